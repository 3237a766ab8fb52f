"""ODBC extras against the real drivers (psqlODBC, MariaDB Connector/ODBC through unixODBC): a key
the driver's allowlist does not hold is refused before any connect, whatever its spelling, and one
it holds reaches the driver and takes effect."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.errors import ConnectorConfigError
from connectors.sql.urls import make_engine
from tests.fixtures.databases import SqlDatabase

pytestmark = pytest.mark.integration

VALUE = "custhub-marker-value-9f3"

# What each driver would honour if it were passed on (the findings, and their kin).
POSTGRES_REFUSED = ["Database", "database", "Servername", "Server", "Port", "Username", "UID",
                    "Password", "pwd", "ConnSettings", "A6", "pqopt", "Debug", "CommLog",
                    "Logdir", "CX", "Driver", "DSN"]
MARIADB_REFUSED = ["DB", "db", "DATABASE", "USER", "UID", "PASSWORD", "PWD", "SERVER",
                   "SERVERNAME", "SOCKET", "PORT", "INITSTMT", "initstmt", "OPTIONS", "OPTION",
                   "PLUGIN_DIR", "USE_MYCNF", "SAVEFILE", "TRACE", "TLSKEYPWD", "DRIVER", "DSN"]


def _with(db: SqlDatabase, /, **extra: Any) -> Any:
    return replace(db.conn, extra={**db.conn.extra, **extra})


def _refused(db: SqlDatabase, key: str) -> None:
    with pytest.raises(ConnectorConfigError) as raised:
        make_engine(_with(db, **{key: VALUE}))
    message = str(raised.value)
    assert f"'{key}'" in message and VALUE not in message and "\n" not in message


@pytest.mark.parametrize("key", POSTGRES_REFUSED)
def test_psqlodbc_keys_that_pick_target_user_or_run_sql_are_refused(
        odbc_postgres_db: SqlDatabase, key: str) -> None:
    _refused(odbc_postgres_db, key)


@pytest.mark.parametrize("key", MARIADB_REFUSED)
def test_mariadb_keys_that_pick_target_user_or_run_sql_are_refused(
        odbc_mariadb_db: SqlDatabase, key: str) -> None:
    _refused(odbc_mariadb_db, key)


def _scalar(engine: sa.Engine, sql: str) -> Any:
    try:
        with engine.connect() as c:
            return c.exec_driver_sql(sql).scalar()
    finally:
        engine.dispose()


def test_an_allowed_psqlodbc_key_reaches_the_driver(odbc_postgres_db: SqlDatabase) -> None:
    assert _scalar(make_engine(_with(odbc_postgres_db, readonly=0, Fetch=10)),
                   "SELECT current_database()") == odbc_postgres_db.name
    # ReadOnly=1 (any case) is psqlODBC's own: the driver refuses a write, so it got the key
    with pytest.raises(sa.exc.DBAPIError, match="readonly"):
        _scalar(make_engine(_with(odbc_postgres_db, readonly=1)), "CREATE TEMP TABLE t (x int)")


def test_an_allowed_mariadb_key_reaches_the_driver(odbc_mariadb_db: SqlDatabase) -> None:
    engine = make_engine(_with(odbc_mariadb_db, charset="latin1", CONN_TIMEOUT=5))
    assert _scalar(engine, "SELECT @@character_set_client") == "latin1"
    engine = make_engine(_with(odbc_mariadb_db, CHARSET="utf8mb4"))
    assert _scalar(engine, "SELECT DATABASE()") == odbc_mariadb_db.name
