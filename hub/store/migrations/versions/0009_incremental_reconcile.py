"""incremental reconcile: the xref's deletion state, the reconcile state

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 16:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('xref', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_deleted', sa.Boolean(), nullable=True))
    # What the last reconcile saw is what the store holds now: one statement, not a row at a time.
    xref = sa.table('xref', sa.column('system'), sa.column('record_id'), sa.column('source_deleted', sa.Boolean()))
    source = sa.table('source_record', sa.column('system'), sa.column('record_id'), sa.column('deleted_at'))
    gone = sa.exists().where(source.c.system == xref.c.system, source.c.record_id == xref.c.record_id,
                             source.c.deleted_at.is_not(None))
    op.execute(xref.update().values(source_deleted=gone))
    op.create_table(
        'reconcile_state',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('full_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('rules', sa.String(length=64), nullable=False),
        sa.Column('decision_id', sa.Integer(), nullable=False),
        sa.Column('audit_id', sa.Integer(), nullable=False),
        sa.Column('model', sa.JSON(), nullable=True),
        sa.Column('held', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    op.drop_table('reconcile_state')
    with op.batch_alter_table('xref', schema=None) as batch_op:
        batch_op.drop_column('source_deleted')
