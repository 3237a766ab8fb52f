"""outbox rows looked up by record (the report's correction column, read in batches)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 16:00:00.000000
"""
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_system_record', ['system', 'record_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_system_record')
