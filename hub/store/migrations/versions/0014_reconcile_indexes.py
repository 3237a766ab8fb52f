"""golden records: the current versions indexed by hub id (a partial index), not the flag
alone; source records indexed by the run that staged them

SQLite keeps no statistics: with an index on is_current it scanned every current row for
each IN list of hub ids an incremental reconcile reads (quadratic in the scope). Reconcile
counts the records a run staged from that run's rows, not from a scan of the xref.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 22:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('golden_record', schema=None) as batch_op:
        batch_op.drop_index('ix_golden_record_is_current')
        batch_op.create_index('ix_golden_record_current', ['hub_id'], unique=False,
                              sqlite_where=sa.text('is_current IS 1'),
                              postgresql_where=sa.text('is_current IS true'))
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.create_index('ix_source_record_run', ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.drop_index('ix_source_record_run')
    with op.batch_alter_table('golden_record', schema=None) as batch_op:
        batch_op.drop_index('ix_golden_record_current')
        batch_op.create_index('ix_golden_record_is_current', ['is_current'], unique=False)
