"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from hub.store.db import make_engine, migrate
from hub.store.models import Base

pytestmark = pytest.mark.integration


def test_migrations_match_the_models(hub_store_url: str) -> None:
    engine = make_engine(hub_store_url)
    migrate(engine)
    migrate(engine)  # a second start finds nothing to do
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_the_audit_hub_id_index_is_filled_for_an_existing_trail(hub_store_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from hub.store.db import MIGRATIONS

    engine = make_engine(hub_store_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0012")
        conn.execute(text(
            "INSERT INTO audit_entry (at, actor, action, subject, detail, reason) VALUES "
            "('2026-01-02 03:04:05', 's', 'merge', 'H00000001', '{\"merged\": \"H00000002\"}', 'one'),"
            "('2026-01-02 03:04:06', 's', 'link', 'crm:C1', '{\"from\": \"H00000003\", \"to\": \"H00000001\"}', 'x'),"
            "('2026-01-02 03:04:07', 's', 'decide', 'review:4', '{\"from\": \"H00000009\"}', 'y')"))
    migrate(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT audit_id, hub_id FROM audit_hub_id ORDER BY audit_id, hub_id")).all()
    ids = sorted({a for a, _ in rows})  # the decision (third entry) is not an xref operation: none
    assert [(ids.index(a), h) for a, h in rows] == [(0, "H00000001"), (0, "H00000002"),
                                                    (1, "H00000001"), (1, "H00000003")]
    engine.dispose()
