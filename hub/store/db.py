"""Engines, sessions and migrations for the hub store."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_KEY = 0x6375737468756201  # "custhub" + 1: one advisory lock id for schema changes
IN_LIST_LIMIT = 500  # bound parameters per IN list: drivers and SQLite cap them
_JSON = msgspec.json.Encoder()
_JSON_VALUE = msgspec.json.Decoder()


def json_text(value: object) -> str:
    """The JSON text of a JSON column, on every store and for ORM inserts and COPY alike:
    msgspec writes it several times faster than ``json.dumps``, and UTF-8 instead of
    ``\\u`` escapes, which PostgreSQL then parses faster too."""
    return _JSON.encode(value).decode()


def json_value(text: str | bytes) -> Any:
    """A JSON column's value, read by msgspec (several times faster than ``json.loads``);
    what only ``json.loads`` reads (``NaN``, written by ``json.dumps`` before) still reads."""
    try:
        return _JSON_VALUE.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True, json_serializer=json_text,
                           json_deserializer=json_value)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the report read while a step writes; the busy timeout rides out short locks.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def migrate(engine: Engine) -> None:
    """Bring the store's schema to the newest revision (safe to call on every start).

    Two processes starting on a new store at once (two runs, two Airflow workers) migrate one
    after the other: PostgreSQL holds an advisory lock for the transaction, SQLite a lock file
    beside the database; the second then finds the schema at head and changes nothing."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _sqlite_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def _sqlite_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        yield session


def in_chunks(items: Sequence[str], size: int = IN_LIST_LIMIT) -> Iterator[Sequence[str]]:
    """``items`` in slices small enough for one ``IN (...)`` list."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
