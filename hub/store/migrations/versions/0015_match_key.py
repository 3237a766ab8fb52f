"""match_key: each record's block and deterministic keys, hashed, for the scope of an
incremental reconcile to be found by index instead of reading every record each night

Empty when made: the rules' fingerprint names the key table, so the next reconcile is a full
one and fills it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 01:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'match_key',
        sa.Column('kind', sa.Integer(), primary_key=True),
        sa.Column('key', sa.BigInteger(), primary_key=True),
        sa.Column('system', sa.String(length=64), primary_key=True),
        sa.Column('record_id', sa.String(length=128), primary_key=True),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table('match_key')
