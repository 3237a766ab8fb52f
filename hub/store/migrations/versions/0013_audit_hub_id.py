"""audit: the hub ids each xref operation named, indexed (a golden record's page finds its trail)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 22:00:00.000000
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# As hub.xref_ops wrote them when this migration was made: migrations do not import the app.
_XREF_ACTIONS = ('link', 'unlink', 'merge', 'split')
_HUB_ID_KEYS = ('from', 'to', 'merged', 'new_hub_id')


def upgrade() -> None:
    table = op.create_table(
        'audit_hub_id',
        sa.Column('audit_id', sa.Integer(), sa.ForeignKey('audit_entry.id'), primary_key=True),
        sa.Column('hub_id', sa.String(length=32), primary_key=True),
    )
    op.create_index('ix_audit_hub_id_hub_id', 'audit_hub_id', ['hub_id'])
    entries = op.get_bind().execute(sa.text(
        'SELECT id, subject, detail FROM audit_entry WHERE action IN :actions'
    ).bindparams(sa.bindparam('actions', expanding=True)), {'actions': list(_XREF_ACTIONS)})
    rows = [{'audit_id': audit_id, 'hub_id': hub_id}
            for audit_id, subject, detail in entries for hub_id in _hub_ids(subject, detail)]
    if rows:
        op.bulk_insert(table, rows)


def _hub_ids(subject: str, detail: object) -> set[str]:
    named = json.loads(detail) if isinstance(detail, str) else dict(detail or {})
    found = {str(named[k]) for k in _HUB_ID_KEYS if named.get(k)}
    return found | ({subject} if subject.startswith('H') and subject[1:].isdigit() else set())


def downgrade() -> None:
    op.drop_index('ix_audit_hub_id_hub_id', table_name='audit_hub_id')
    op.drop_table('audit_hub_id')
