"""The store as a command that only reads sees it: it must exist already.

`custhub run nightly` creates the store (hub.pipeline.context.open_store migrates a new one);
every other command opens it through ``existing_store``, so that a command typed in the wrong
folder, or with the wrong --config, says where it looked instead of leaving an empty store there.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from core.errors import StoreError
from hub.config import HubConfig
from hub.pipeline.context import open_store
from hub.store.db import make_engine

VERSION_TABLE = "alembic_version"  # Alembic's: present once a run has created the schema
HOW_TO_CREATE = "`custhub run nightly` creates it; --config or CUSTHUB_STORE_URL names another"


def existing_store(config: HubConfig) -> Engine:
    """The hub store, brought up to date; a StoreError naming where it was looked for when
    there is none yet."""
    url = config.store_url
    try:
        parsed = make_url(url)
    except ArgumentError:
        return open_store(config)  # its own error says the URL is unreadable, without showing it
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return open_store(config)
        if not Path(database).is_file():
            raise StoreError(f"no hub store at {Path(database).resolve()}: {HOW_TO_CREATE}")
    elif not _has_schema(url):
        shown = parsed.render_as_string(hide_password=True)
        raise StoreError(f"no hub store in {shown} (no custhub tables): {HOW_TO_CREATE}")
    return open_store(config)


def _has_schema(url: str) -> bool:
    """False only when the database answers and holds no custhub schema; a database that does
    not answer is left to open_store, whose error says why."""
    engine = make_engine(url)
    try:
        return inspect(engine).has_table(VERSION_TABLE)
    except SQLAlchemyError:
        return True
    finally:
        engine.dispose()
