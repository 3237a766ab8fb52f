"""SQL view extraction: rows per second and peak memory reading 1,000,000 view rows, each
next to the raw limit of the same database and driver measured in the same run.

- SQLite: ``SqlViewConnector.read_pages`` (the SQLAlchemy result path).
- PostgreSQL (psycopg2, server-side cursor): the connector; raw limits ``psql \\copy (the
  same SELECT) to /dev/null`` and psycopg2's ``COPY ... TO STDOUT`` into a null sink (no
  Python objects at all), and a bare named-cursor ``fetchmany`` loop (the driver's rows).
- PostgreSQL over ODBC (pyodbc + psqlODBC, driver "PostgreSQL Unicode"), and MariaDB over
  ODBC ("MariaDB Unicode"): the connector; raw limit a bare pyodbc ``fetchmany`` loop of
  the same SELECT on the same connect string.

Write-back: ``SqlViewConnector.write`` of 100,000 import rows (x scale) into the import table
(COPY on psycopg2, multi-row INSERTs elsewhere), then the same batch again (a re-send: only
the idempotency look-up); the raw limit on PostgreSQL is psycopg2's COPY of the same rows
from memory into a scratch copy of the table.

All reads go through ``read_pages`` as the hub's extract step does, pages of 10,000 rows,
in (watermark, key) order from the start; a missing server or driver leaves its lines out.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from bench._rss import PeakRss
from bench._sql_databases import ORDER, odbc, server_database, sqlite_database
from connectors.base import Write
from connectors.sql import SqlViewConnector, SqlViewSettings
from connectors.sql.urls import odbc_connect_string
from core.connections import ConnectionInfo

ROWS = 1_000_000
WRITES = 100_000
CHUNK = 10_000
SELECT = f"SELECT * FROM v_customers ORDER BY {ORDER}"


def _timed(read: Callable[[], int], rows: int) -> tuple[float, float]:
    """(rows/s, peak RSS MB above the start) of one read that must see ``rows`` rows."""
    with PeakRss() as memory:
        started = time.perf_counter()
        seen = read()
        seconds = time.perf_counter() - started
    assert seen == rows, (seen, rows)
    return rows / seconds, memory.peak - memory.before


def _connector(conn: ConnectionInfo) -> Callable[[], int]:
    def read() -> int:
        with SqlViewConnector("accounting", SqlViewSettings(chunk_size=CHUNK), conn) as sql:
            sql.test_connection()  # reflection and connect outside the figure's first page
            return sum(len(page.records) for page in sql.read_pages(None))
    return read


def _dsn(conn: ConnectionInfo) -> str:
    return f"host={conn.host} port={conn.port} user={conn.login} dbname={conn.schema}"


def _psql_copy(conn: ConnectionInfo) -> Callable[[], int]:
    def read() -> int:
        out = subprocess.run(["psql", "-X", "-d", _dsn(conn), "-c",
                              f"\\copy ({SELECT}) to /dev/null"], check=True,
                             capture_output=True, text=True).stdout
        return int(out.split()[-1]) if out.strip() else -1
    return read


class _NullSink(io.RawIOBase):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        return len(data)


def _psycopg2_copy(conn: ConnectionInfo) -> Callable[[], int]:
    import psycopg2

    def read() -> int:
        with psycopg2.connect(_dsn(conn)) as db, db.cursor() as cursor:
            cursor.copy_expert(f"COPY ({SELECT}) TO STDOUT", _NullSink())
            return cursor.rowcount
    return read


def _drain(cursor: object) -> int:
    seen = 0
    while rows := cursor.fetchmany(CHUNK):  # type: ignore[attr-defined]
        seen += len(rows)
    return seen


def _psycopg2_fetch(conn: ConnectionInfo) -> Callable[[], int]:
    import psycopg2

    def read() -> int:
        with psycopg2.connect(_dsn(conn)) as db:
            cursor = db.cursor(name="bench")
            cursor.execute(SELECT)
            return _drain(cursor)
    return read


def _pyodbc_fetch(conn: ConnectionInfo) -> Callable[[], int]:
    import pyodbc

    def read() -> int:
        with pyodbc.connect(odbc_connect_string(conn)) as db:
            return _drain(db.cursor().execute(SELECT))
    return read


def _measure(figures: dict[str, float], prefix: str, reads: dict[str, Callable[[], int]],
             rows: int) -> None:
    for name, read in reads.items():
        per_second, growth = _timed(read, rows)
        figures[f"{prefix} {name} rows/s"] = per_second
        figures[f"{prefix} {name} rss growth MB"] = growth


def _writes(n: int) -> list[Write]:
    return [Write(f"bench:ACC{i:08d}", f"ACC{i:08d}", {
        "company_name": f"Firma {i} s.r.o.", "email": f"ucetni{i}@firma.cz",
        "credit_limit": "99.90", "payment_terms_days": "30"}) for i in range(n)]


def _write_back(figures: dict[str, float], prefix: str, conn: ConnectionInfo, n: int) -> None:
    writes = _writes(n)
    with SqlViewConnector("accounting", SqlViewSettings(), conn) as sql:
        sql.test_connection()
        for label in ("write", "re-send"):
            started = time.perf_counter()
            applied = len(sql.write(writes, "bench").applied)
            figures[f"{prefix} {label} rows/s"] = n / (time.perf_counter() - started)
            assert applied == n, (applied, n)


def _raw_copy_in(conn: ConnectionInfo, n: int) -> float:
    """rows/s of psycopg2 COPY FROM STDIN of n import rows prepared as text beforehand."""
    import psycopg2

    lines = "".join(f"bench\tscratch:{i}\tACC{i:08d}\tFirma {i} s.r.o.\tucetni{i}@firma.cz"
                    f"\t99.90\t30\n" for i in range(n))
    columns = "batch_id, idempotency_key, customer_no, company_name, email, credit_limit, " \
              "payment_terms_days"
    with psycopg2.connect(_dsn(conn)) as db, db.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE scratch_import (LIKE customer_import INCLUDING ALL)")
        started = time.perf_counter()
        cursor.copy_expert(f"COPY scratch_import ({columns}) FROM STDIN", io.StringIO(lines))
        return n / (time.perf_counter() - started)


def _truncate_imports(conn: ConnectionInfo) -> None:
    import psycopg2

    with psycopg2.connect(_dsn(conn)) as db, db.cursor() as cursor:
        cursor.execute("TRUNCATE customer_import")


def _sqlite(rows: int, figures: dict[str, float]) -> None:
    with tempfile.TemporaryDirectory(prefix="custhub-bench-") as tmp:
        conn = sqlite_database(Path(tmp) / "accounting.db", rows)
        _measure(figures, "sqlite", {"connector": _connector(conn)}, rows)
        _write_back(figures, "sqlite", conn, _write_count(rows))


def _write_count(rows: int) -> int:
    return max(1000, rows * WRITES // ROWS)


def _odbc_driver(name: str) -> bool:
    import pyodbc

    return name in pyodbc.drivers()


def _postgres(rows: int, figures: dict[str, float]) -> None:
    with server_database("postgres", rows) as conn:
        reads = {"connector": _connector(conn), "raw psycopg2 COPY": _psycopg2_copy(conn),
                 "raw psycopg2 named cursor": _psycopg2_fetch(conn)}
        if shutil.which("psql"):
            reads["raw psql \\copy"] = _psql_copy(conn)
        _measure(figures, "postgresql", reads, rows)
        _write_back(figures, "postgresql", conn, _write_count(rows))
        figures["postgresql raw COPY FROM STDIN rows/s"] = _raw_copy_in(conn, _write_count(rows))
        if _odbc_driver("PostgreSQL Unicode"):
            over = odbc(conn, "PostgreSQL Unicode", "postgresql+pyodbc")
            _measure(figures, "odbc-postgresql", {"connector": _connector(over),
                                                  "raw pyodbc fetchmany": _pyodbc_fetch(over)},
                     rows)
            _truncate_imports(conn)
            _write_back(figures, "odbc-postgresql", over, _write_count(rows))


def _mariadb(rows: int, figures: dict[str, float]) -> None:
    if not _odbc_driver("MariaDB Unicode"):
        return
    with server_database("mysql", rows) as conn:
        over = odbc(conn, "MariaDB Unicode", "mariadb+pyodbc")
        _measure(figures, "odbc-mariadb", {"connector": _connector(over),
                                           "raw pyodbc fetchmany": _pyodbc_fetch(over)}, rows)
        _write_back(figures, "odbc-mariadb", over, _write_count(rows))


def run(scale: float = 1.0) -> dict[str, float]:
    rows = max(1000, int(ROWS * scale))
    figures: dict[str, float] = {"rows": rows}
    for part in (_sqlite, _postgres, _mariadb):
        try:
            part(rows, figures)
        except (sa.exc.OperationalError, ImportError) as e:  # that server is not here
            print(f"sql_extract: {part.__name__[1:]} left out: {type(e).__name__}")
    return figures
