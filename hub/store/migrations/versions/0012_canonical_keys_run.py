"""canonical records: the run in which a record's registry keys last changed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 20:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('canonical_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('keys_run_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('canonical_record', schema=None) as batch_op:
        batch_op.drop_column('keys_run_id')
