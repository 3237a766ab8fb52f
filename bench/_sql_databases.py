"""Throw-away accounting databases for the SQL benches: SQLite, PostgreSQL, MariaDB.

The rows are generated inside the database (a recursive CTE, generate_series, MariaDB's
sequence engine), so the bench process holds none of them before it reads. The view's
(watermark, key) order is indexed, as an accounting view read by watermark should be.
Server URLs: CUSTHUB_BENCH_PG_URL, CUSTHUB_BENCH_MARIADB_URL (admin; defaults: the local
servers the tests use).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr

from core.connections import ConnectionInfo
from sandbox import accounting_db

PG_URL = os.environ.get("CUSTHUB_BENCH_PG_URL",
                        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
MARIADB_URL = os.environ.get("CUSTHUB_BENCH_MARIADB_URL",
                             "mysql+pymysql://root@127.0.0.1:3306/test")
ORDER = "updated_at, customer_no"
_VALUES = """'Firma ' || {i} || ' s.r.o.', {pad}, 'CZ' || {i}, 'Dlouhá ' || {i}, 'Praha',
       '110 00', 'CZ', 'info' || {i} || '@firma.cz', '+420 601 123 456', NULL, 14, 150000.50"""
_SQLITE = f"""
INSERT INTO customers
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
SELECT printf('ACC%08d', i), {_VALUES.format(i="i", pad="printf('%08d', i)")},
       datetime('2026-01-01', '+' || (i / 7) || ' seconds')
FROM n"""
_POSTGRES = f"""
INSERT INTO customers
SELECT 'ACC' || lpad(i::text, 8, '0'), {_VALUES.format(i="i", pad="lpad(i::text, 8, '0')")},
       timestamp '2026-01-01' + (i / 7) * interval '1 second'
FROM generate_series(1, %(rows)s) AS i"""
_MARIADB = """
INSERT INTO customers
SELECT CONCAT('ACC', LPAD(seq, 8, '0')), CONCAT('Firma ', seq, ' s.r.o.'), LPAD(seq, 8, '0'),
       CONCAT('CZ', seq), CONCAT('Dlouhá ', seq), 'Praha', '110 00', 'CZ',
       CONCAT('info', seq, '@firma.cz'), '+420 601 123 456', NULL, 14, 150000.50,
       TIMESTAMP '2026-01-01 00:00:00' + INTERVAL (seq DIV 7) SECOND
FROM seq_1_to_{rows}"""


def _fill(engine: sa.Engine, sql: str, params: dict[str, int] | None) -> None:
    accounting_db.create_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql, params) if params else conn.exec_driver_sql(sql)
        conn.exec_driver_sql(f"CREATE INDEX customers_watermark ON customers ({ORDER})")


def sqlite_database(path: Path, rows: int) -> ConnectionInfo:
    engine = sa.create_engine(f"sqlite:///{path}")
    accounting_db.create_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(_SQLITE), {"rows": rows})
    engine.dispose()
    return ConnectionInfo(conn_id="bench", conn_type="sqlite", host=str(path), port=None,
                          login=None, password=SecretStr(""), schema=None, extra={})


@contextmanager
def server_database(kind: str, rows: int) -> Iterator[ConnectionInfo]:
    """A fresh PostgreSQL ("postgres") or MariaDB ("mysql") database with ``rows`` customers,
    dropped afterwards."""
    admin_url = sa.make_url(PG_URL if kind == "postgres" else MARIADB_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"custhub_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine = sa.create_engine(admin_url.set(database=name))
    try:
        if kind == "postgres":
            _fill(engine, _POSTGRES, {"rows": rows})
        else:
            _fill(engine, _MARIADB.format(rows=int(rows)), None)
        with engine.begin() as conn:
            analyze = "ANALYZE TABLE customers" if kind == "mysql" else "ANALYZE customers"
            conn.exec_driver_sql(analyze)
        yield ConnectionInfo(conn_id="bench", conn_type=kind, host=admin_url.host,
                             port=admin_url.port, login=admin_url.username,
                             password=SecretStr(admin_url.password or ""), schema=name, extra={})
    finally:
        engine.dispose()
        with admin.connect() as conn:
            force = " WITH (FORCE)" if kind == "postgres" else ""
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def odbc(conn: ConnectionInfo, driver: str, scheme: str) -> ConnectionInfo:
    """The same database through an ODBC driver registered in odbcinst.ini (no DSN)."""
    return replace(conn, conn_type="odbc", extra={"driver": driver, "sqlalchemy_scheme": scheme})
