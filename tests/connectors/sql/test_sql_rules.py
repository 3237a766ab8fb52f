"""The SQL connector's failure table, row by row, with real DBAPI errors from real failing
connections and statements: SQLite, PostgreSQL (psycopg2), MariaDB (PyMySQL), unixODBC (pyodbc)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.errors import (
    Action,
    BadRecordError,
    ConnectorConfigError,
    ConnectorError,
    TransientError,
)
from connectors.sql.errors import RULES, translate
from tests.fixtures.databases import MARIADB_ADMIN_URL, PG_ADMIN_URL

pytestmark = pytest.mark.integration


def _failure(url: str | sa.URL, sql: str = "SELECT 1", **engine: object) -> sa.exc.DBAPIError:
    made = sa.create_engine(url, **engine)
    try:
        with made.connect() as conn:
            conn.exec_driver_sql(sql)
    except sa.exc.DBAPIError as e:
        return e
    finally:
        made.dispose()
    raise AssertionError(f"{url} {sql!r} did not fail")


def _server(admin: str, **parts: object) -> sa.URL:
    return sa.make_url(admin).set(**parts)


def _sqlite_locked(tmp: Path) -> sa.exc.DBAPIError:
    path = tmp / "locked.db"
    holder = sa.create_engine(f"sqlite:///{path}")
    with holder.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k TEXT)")
        conn.exec_driver_sql("BEGIN EXCLUSIVE")
        try:
            return _failure(f"sqlite:///{path}", "SELECT * FROM t", connect_args={"timeout": 0})
        finally:
            conn.rollback()
            holder.dispose()


def _sqlite_duplicate(tmp: Path) -> sa.exc.DBAPIError:
    engine = sa.create_engine(f"sqlite:///{tmp / 'dup.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO t VALUES ('a')")
    engine.dispose()
    return _failure(f"sqlite:///{tmp / 'dup.db'}", "INSERT INTO t VALUES ('a')")


Make = Callable[[Path], sa.exc.SQLAlchemyError]
ROWS: list[tuple[str, Make, type[ConnectorError], Action, str]] = [
    # (id, how to get the real error, class, action, detail: the code the row matched on)
    ("sqlite-no-such-table", lambda t: _failure("sqlite://", "SELECT * FROM missing"),
     ConnectorConfigError, Action.FAIL, "SQLITE_ERROR"),
    ("sqlite-locked", _sqlite_locked, TransientError, Action.RETRY, "SQLITE_BUSY"),
    ("sqlite-duplicate-key", _sqlite_duplicate, BadRecordError, Action.QUARANTINE,
     "SQLITE_CONSTRAINT_PRIMARYKEY"),
    ("pg-missing-table", lambda t: _failure(PG_ADMIN_URL, "SELECT * FROM no_such_table"),
     ConnectorConfigError, Action.FAIL, "42P01"),
    ("pg-bad-value", lambda t: _failure(PG_ADMIN_URL, "SELECT 'x'::int"), BadRecordError,
     Action.QUARANTINE, "22P02"),
    ("pg-refused", lambda t: _failure(_server(PG_ADMIN_URL, port=1)), TransientError,
     Action.RETRY, "OperationalError"),
    ("mariadb-access-denied",
     lambda t: _failure(_server(MARIADB_ADMIN_URL, username="no_such_user", password="pw")),
     ConnectorConfigError, Action.FAIL, "28000"),
    ("mariadb-unknown-database",
     lambda t: _failure(_server(MARIADB_ADMIN_URL, database="no_such_database")),
     ConnectorConfigError, Action.FAIL, "42000"),
    ("mariadb-missing-table", lambda t: _failure(MARIADB_ADMIN_URL, "SELECT * FROM no_such"),
     ConnectorConfigError, Action.FAIL, "42S02"),
    ("mariadb-refused", lambda t: _failure(_server(MARIADB_ADMIN_URL, port=1)), TransientError,
     Action.RETRY, "2003"),
    ("odbc-unknown-dsn", lambda t: _failure("mssql+pyodbc://u:p@no_such_dsn"),
     ConnectorConfigError, Action.FAIL, "IM002"),
    ("not-the-driver", lambda t: sa.exc.ArgumentError("bad dialect option"),
     ConnectorConfigError, Action.FAIL, "ArgumentError"),
]


@pytest.mark.parametrize(("make", "cls", "action", "detail"), [r[1:] for r in ROWS],
                         ids=[r[0] for r in ROWS])
def test_each_row(make: Make, cls: type[ConnectorError], action: Action, detail: str,
                  tmp_path: Path) -> None:
    error = make(tmp_path)
    classified = translate(error, "reading v_customers", "accounting")
    assert type(classified) is cls
    assert (classified.action, classified.detail) == (action, detail)
    assert str(classified).startswith("[accounting] reading v_customers failed: ")
    assert "SELECT" not in str(classified)  # the driver's first line, not the statement
    assert classified.rule in RULES


def test_a_password_in_the_url_never_reaches_the_message() -> None:
    url = _server(PG_ADMIN_URL, port=1, password="s3cr3t-pw")
    classified = translate(_failure(url), "connecting", "accounting")
    assert "s3cr3t-pw" not in f"{classified} {classified.detail}"
