"""run lease: whether the holder's process is the whole run (a dead holder is seen at once)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 19:10:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('run_lease', schema=None) as batch_op:
        batch_op.add_column(sa.Column('process_bound', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('run_lease', schema=None) as batch_op:
        batch_op.drop_column('process_bound')
