"""steward decision evidence

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 07:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('steward_decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evidence', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('steward_decision', schema=None) as batch_op:
        batch_op.drop_column('evidence')
