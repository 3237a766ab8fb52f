"""The hub store loaded at its protocol limit, and stage + map at scale, on PostgreSQL and SQLite.

1. ``hub.store.bulk.bulk_insert`` of 1,000,000 rows into each table the pipeline fills in
   bulk (staged source records, canonical records, xref, golden versions, outbox,
   discrepancies), from row dicts as the pipeline hands them over, in one transaction (the
   time this bench takes to make the dicts, measured apart, is taken off); next
   to the raw limit measured in the same run on the same rows:
   - PostgreSQL: psycopg2 ``copy_expert`` of the rows' COPY text, already written to a file,
     into a bare table (same columns, no index or constraint), and into the store's own
     table (its indexes: the server's share of the cost);
   - SQLite: ``sqlite3`` executemany of the rows as ready tuples into a bare table.
2. Stage + map of 1,000,000 CRM accounts through the pipeline's own functions (``Staging.page``
   a page of 5,000 at a time, each page its own transaction, as extract does; ``map_system``),
   then the same records staged again (nothing changed: the steady state) and mapped (nothing
   to map); in a fresh process per store, with its peak RSS.

PostgreSQL: a database ``custhub_bench_store`` (created, dropped at the end) on the server of
``CUSTHUB_BENCH_PG_ADMIN_URL`` (default: postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.base import Page, RawRecord
from hub.store.bulk import _line_writer, bulk_insert
from hub.store.db import json_text, make_engine, migrate, session_scope
from hub.store.models import (CanonicalRecord, Discrepancy, GoldenRecord, Outbox, SourceRecord,
                              Xref)

ROWS = 1_000_000
RECORDS = 1_000_000
PAGE = 5_000
DATABASE = "custhub_bench_store"
PG_ADMIN_URL = os.environ.get("CUSTHUB_BENCH_PG_ADMIN_URL",
                              "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
RUN = "bench-run-0000000000000000000000001"
CITIES = ("Praha", "Brno", "Ostrava", "Plzeň", "Liberec", "Olomouc", "České Budějovice", "Hradec Králové")
NAMES = ("Dvořák", "Novák", "Svoboda", "Černý", "Procházka", "Kučera", "Veselý", "Horák", "Němec", "Pokorný")
FORMS = ("s.r.o.", "a.s.", "spol. s r.o.", "v.o.s.", "z.s.")


def run(scale: float = 1.0) -> dict[str, float]:
    rows, records = max(1_000, int(ROWS * scale)), max(1_000, int(RECORDS * scale))
    print(f"store_load: bulk_insert of {rows:,} rows per table next to the raw COPY / executemany; "
          f"stage + map of {records:,} CRM accounts")
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="custhub-bench-store-") as tmp:
        with _pg_database() as url:
            figures |= _pg_loads(url, rows, Path(tmp))
        figures |= _sqlite_loads(f"sqlite:///{tmp}/load.db", rows)
        with _pg_database() as url:
            figures |= _stage_map_process("postgresql", url, records)
        figures |= _stage_map_process("sqlite", f"sqlite:///{tmp}/stage.db", records)
    return figures


# -- the rows the pipeline hands to bulk_insert -------------------------------------------------

def crm_account(i: int, version: int = 3) -> dict[str, Any]:
    ico = _ico(i)
    name = f"{NAMES[i % len(NAMES)]} {i // len(NAMES)} {FORMS[i % len(FORMS)]}"
    return {"AccountId": f"CRM{i:08d}", "Name": name, "CompanyId": ico, "VatId": f"CZ{ico}",
            "Street": f"Dlouhá {i % 997 + 1}/{i % 13 + 1}", "City": CITIES[i % len(CITIES)],
            "PostalCode": f"{110 + i % 600:03d} 00", "CountryCode": "CZ",
            "Email": f"info{i}@firma{i % 1000}.cz", "Phone": f"+420 60{i % 10} {i % 1000:03d} {i % 997:03d}",
            "ModifiedAt": "2026-11-30T22:00:00Z", "Version": version}


def _ico(i: int) -> str:
    """A valid IČO (mod-11 check digit) for every i."""
    digits = f"{i % 10_000_000:07d}"
    check = (11 - sum(int(d) * (8 - n) for n, d in enumerate(digits)) % 11) % 10
    return f"{digits}{check}"


def _canonical(i: int) -> dict[str, Any]:
    account = crm_account(i)
    return {"legal_name": account["Name"], "legal_form": FORMS[i % len(FORMS)], "company_id": account["CompanyId"],
            "vat_id": account["VatId"], "street": account["Street"], "city": account["City"],
            "postal_code": account["PostalCode"].replace(" ", ""), "country": "CZ",
            "email": account["Email"], "phone": account["Phone"].replace(" ", "")}


ROW_MAKERS: dict[str, tuple[sa.Table, Callable[[int], dict[str, Any]]]] = {
    "staging (source_record)": (SourceRecord.__table__, lambda i: {
        "system": "crm", "record_id": f"CRM{i:08d}", "payload": crm_account(i), "content_hash": f"{i:064x}",
        "version": "3", "source_version": "t2026-11-30T22:00:00.000000|n00000000000000000003",
        "location": None, "fetched_at": NOW, "run_id": RUN}),
    "canonical_record": (CanonicalRecord.__table__, lambda i: {
        "system": "crm", "record_id": f"CRM{i:08d}", "values": _canonical(i), "source_hash": f"{i:064x}",
        "run_id": RUN}),
    "xref": (Xref.__table__, lambda i: {
        "system": "crm", "record_id": f"CRM{i:08d}", "hub_id": f"H{i:015d}", "rule": "company_id",
        "run_id": RUN, "linked_at": NOW, "source_hash": f"{i:064x}"}),
    "golden_record": (GoldenRecord.__table__, lambda i: {
        "hub_id": f"H{i:015d}", "version": 1, "values": _canonical(i),
        "lineage": {f: {"system": "crm", "record_id": f"CRM{i:08d}", "rule": "most_recent"}
                    for f in ("legal_name", "company_id", "street", "email")},
        "is_current": True, "run_id": RUN, "created_at": NOW}),
    "outbox": (Outbox.__table__, lambda i: {
        "idempotency_key": f"{i:064x}", "run_id": RUN, "system": "accounting", "record_id": f"ACC{i:08d}",
        "hub_id": f"H{i:015d}", "values": {"email": f"info{i}@firma{i % 1000}.cz", "city": CITIES[i % 8]},
        "status": "pending", "expected_version": "2026-11-30T22:00:00", "created_at": NOW}),
    "discrepancy": (Discrepancy.__table__, lambda i: {
        "run_id": RUN, "hub_id": f"H{i:015d}", "system": "accounting", "record_id": f"ACC{i:08d}",
        "field": "email", "system_value": f"info{i}@firma{i % 1000}.com", "golden_value": f"info{i}@firma{i % 1000}.cz",
        "source": "crm", "rule": "most_recent", "corrected": True}),
}


def _rows(make: Callable[[int], dict[str, Any]], n: int) -> Iterator[dict[str, Any]]:
    return (make(i) for i in range(n))


def _making_seconds(make: Callable[[int], dict[str, Any]], n: int) -> float:
    """How long this bench takes to make the row dicts (the pipeline has them already): taken
    off bulk_insert's time, which streams them as they are made."""
    started = time.perf_counter()
    for _ in _rows(make, n):
        pass
    return time.perf_counter() - started


# -- PostgreSQL ---------------------------------------------------------------------------------

@contextmanager
def _pg_database() -> Iterator[str]:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.dispose()


def _pg_loads(url: str, n: int, tmp: Path) -> dict[str, float]:
    engine = make_engine(url)
    migrate(engine)
    figures: dict[str, float] = {}
    for label, (table, make) in ROW_MAKERS.items():
        path = tmp / f"{table.name}.copy"
        columns = _write_copy_text(engine, table, make, n, path)
        raw_bare = _raw_copy(engine, table, columns, path, bare=True)
        raw_table = _raw_copy(engine, table, columns, path, bare=False)
        path.unlink()
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {table.name}")
        making = _making_seconds(make, n)
        started = time.perf_counter()
        with session_scope(engine) as session:
            loaded = bulk_insert(session, table, _rows(make, n))
        seconds = time.perf_counter() - started
        ours = loaded / (seconds - making)
        figures |= {f"postgresql {label}: bulk_insert rows/s, with making the dicts": loaded / seconds,
                    f"postgresql {label}: bulk_insert rows/s": ours,
                    f"postgresql {label}: raw COPY, bare table rows/s": raw_bare,
                    f"postgresql {label}: raw COPY, same table rows/s": raw_table,
                    f"postgresql {label}: bulk_insert / raw bare": ours / raw_bare}
    engine.dispose()
    return figures


def _write_copy_text(engine: sa.Engine, table: sa.Table, make: Callable[[int], dict[str, Any]], n: int,
                     path: Path) -> list[str]:
    first = make(0)
    given = [table.c[name] for name in first]
    defaulted = [c for c in table.c if c.name not in first and c.default is not None]  # as bulk_insert
    line = _line_writer(engine.dialect, given, defaulted)
    with path.open("w", encoding="utf-8") as out:
        for row in _rows(make, n):
            out.write(line(row))
            out.write("\n")
    return [c.name for c in given + defaulted]


def _raw_copy(engine: sa.Engine, table: sa.Table, columns: list[str], path: Path, *, bare: bool) -> float:
    """Rows per second of psycopg2's copy_expert of the file: the protocol and the server."""
    names = ", ".join(f'"{c}"' for c in columns)
    target = f"bare_{table.name}" if bare else table.name
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            if bare:
                cursor.execute(f"CREATE TABLE {target} AS SELECT {names} FROM {table.name} WITH NO DATA")
            cursor.execute(f"TRUNCATE {target}")
            raw.commit()
            started = time.perf_counter()
            with path.open("rb") as source:
                cursor.copy_expert(f"COPY {target} ({names}) FROM STDIN", source, size=1 << 20)
            loaded = cursor.rowcount
            raw.commit()
            seconds = time.perf_counter() - started
            cursor.execute(f"DROP TABLE {target}" if bare else f"TRUNCATE {target}")
            raw.commit()
    finally:
        raw.close()
    return loaded / seconds


# -- SQLite -------------------------------------------------------------------------------------

def _sqlite_loads(url: str, n: int) -> dict[str, float]:
    engine = make_engine(url)
    migrate(engine)
    figures: dict[str, float] = {}
    for label, (table, make) in ROW_MAKERS.items():
        raw = _sqlite_raw(url.removeprefix("sqlite:///"), table, make, n)
        making = _making_seconds(make, n)
        started = time.perf_counter()
        with session_scope(engine) as session:
            loaded = bulk_insert(session, table, _rows(make, n))
        ours = loaded / (time.perf_counter() - started - making)
        figures |= {f"sqlite {label}: bulk_insert rows/s": ours,
                    f"sqlite {label}: raw sqlite3 executemany, bare table rows/s": raw,
                    f"sqlite {label}: bulk_insert / raw bare": ours / raw}
    engine.dispose()
    return figures


def _sqlite_raw(database: str, table: sa.Table, make: Callable[[int], dict[str, Any]], n: int) -> float:
    """sqlite3's executemany of ready tuples (JSON as text, instants as ISO text), bare table."""
    columns = list(make(0))
    json_columns = {c for c in columns if isinstance(table.c[c].type, sa.JSON)}
    ready = [[json_text(v) if c in json_columns else v.isoformat() if isinstance(v, datetime) else v
              for c, v in row.items()] for row in _rows(make, min(n, 100_000))]
    conn = sqlite3.connect(database)
    quoted = ", ".join(f'"{c}"' for c in columns)
    conn.execute(f"CREATE TABLE bare_{table.name} ({quoted})")
    statement = f"INSERT INTO bare_{table.name} VALUES ({', '.join('?' * len(columns))})"
    started, loaded = time.perf_counter(), 0
    while loaded < n:  # the same ready rows again: the driver's rate, not Python's
        conn.executemany(statement, ready[:n - loaded])
        loaded += min(len(ready), n - loaded)
    conn.commit()
    seconds = time.perf_counter() - started
    conn.execute(f"DROP TABLE bare_{table.name}")
    conn.close()
    return loaded / seconds


# -- stage + map through the pipeline -------------------------------------------------------------

def _stage_map_process(store: str, url: str, n: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.store_load", url, str(n)],
                         check=True, capture_output=True, text=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {f"{store} stage+map of {n:,} CRM accounts: {key}": value for key, value in figures.items()}


def stage_and_map(url: str, n: int) -> dict[str, float]:
    from hub.config import load_config
    from hub.pipeline.context import RunContext, open_store
    from hub.pipeline.map import map_system
    from hub.pipeline.runs import start_run

    config = load_config()
    config = config.model_copy(update={"store": config.store.model_copy(update={"url": url})})
    engine = open_store(config)
    figures: dict[str, float] = {}
    for label in ("first load", "again, nothing changed"):
        ctx = RunContext(config, engine, start_run(engine, "nightly"))
        started = time.perf_counter()
        staged = _stage_pages(ctx, n)
        staged_at = time.perf_counter()
        mapped = map_system(ctx, "crm").get("mapped", 0)
        done = time.perf_counter()
        figures |= {f"{label}: stage records/s": n / (staged_at - started),
                    f"{label}: map records/s": n / (done - staged_at) if mapped else 0.0,
                    f"{label}: stage s": staged_at - started, f"{label}: map s": done - staged_at,
                    f"{label}: staged new+changed": staged, f"{label}: mapped": mapped}
    figures["peak RSS MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine.dispose()
    return figures


def _stage_pages(ctx: Any, n: int) -> int:
    from hub.pipeline.staging import Staging

    staging, staged = Staging("crm", ctx.run_id, "ModifiedAt"), 0
    for start in range(0, n, PAGE):
        records = [RawRecord(f"CRM{i:08d}", crm_account(i), version="3")
                   for i in range(start, min(n, start + PAGE))]
        with session_scope(ctx.engine) as session:
            counts = staging.page(session, Page(records=records, cursor=None))
        staged += counts["new"] + counts["changed"]
    return staged


if __name__ == "__main__":  # one store's stage + map in a process of its own: its own peak RSS
    print(json.dumps(stage_and_map(sys.argv[1], int(sys.argv[2]))))
