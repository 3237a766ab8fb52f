"""source version of staged records; the dry run's preview pages

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_version', sa.String(length=80), nullable=True))
    op.create_table(
        'preview_page',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('system', sa.String(length=64), nullable=False),
        sa.Column('body', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('preview_page', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_preview_page_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('preview_page', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_preview_page_run_id'))
    op.drop_table('preview_page')
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.drop_column('source_version')
