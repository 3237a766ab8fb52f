"""A hub store holding one run with N discrepancies, loaded fast for the report bench.

Synthetic rows of the real tables (golden records, xref, canonical records, discrepancies,
outbox, registry checks) are bulk-loaded through the driver (executemany on SQLite, COPY on
PostgreSQL): the bench times the report, not the reconcile that would have produced them.
About 0.9 companies per discrepancy: one in ten companies differs in two systems.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from itertools import islice

from sqlalchemy import Engine

SYSTEMS = ("crm", "accounting", "erp")
RECORD_IDS = {"crm": "CRM-{}", "accounting": "ACC{}", "erp": "P{:07d}"}
FIELDS = ("street", "city", "legal_name", "email", "phone", "postal_code")
BATCH = 50_000
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def companies(discrepancies: int) -> int:
    return max(1, discrepancies * 9 // 10)


def load(engine: Engine, run_id: str, discrepancies: int) -> dict[str, int]:
    """Fill the store for ``run_id``; returns the rows loaded per table."""
    count = companies(discrepancies)
    tables = {
        "golden_record": (("hub_id", "version", "values", "lineage", "is_current", "run_id", "created_at"),
                          _golden(count, run_id)),
        "xref": (("system", "record_id", "hub_id", "rule", "run_id", "linked_at", "source_hash"),
                 _xref(count, run_id)),
        "canonical_record": (("system", "record_id", "values", "source_hash", "run_id"), _canonical(count, run_id)),
        "discrepancy": (("run_id", "hub_id", "system", "record_id", "field", "system_value", "golden_value",
                         "source", "rule", "corrected"), _discrepancies(discrepancies, count, run_id)),
        "outbox": (("idempotency_key", "run_id", "system", "record_id", "hub_id", "values", "status",
                    "attempts", "created_at"), _outbox(discrepancies, count, run_id)),
        "registry_check": (("registry_name", "key", "checked_on", "status", "request_identifier", "detail",
                            "run_id", "checked_at"), _checks(count, run_id)),
        "run_metric": (("run_id", "system", "metric", "value"), _metrics(count, run_id)),
    }
    return {name: _copy(engine, name, columns, rows) for name, (columns, rows) in tables.items()}


def _hub(i: int) -> str:
    return f"H{i:09d}"


def _record(system: str, i: int) -> str:
    return RECORD_IDS[system].format(i)


def _values(i: int) -> dict[str, str]:
    return {"legal_name": f"Firma {i} s.r.o.", "company_id": f"{i:08d}", "vat_id": f"CZ{i:08d}",
            "street": f"Hlavní {i % 500}", "city": "Brno", "postal_code": "602 00", "country": "CZ",
            "email": f"ucetni{i}@firma.cz", "phone": "+420541123456",
            "registry_status": "dissolved" if i % 1000 == 7 else "active"}


def _golden(count: int, run_id: str) -> Iterator[tuple]:
    for i in range(count):
        yield _hub(i), 1, _values(i), {}, True, run_id, NOW


def _xref(count: int, run_id: str) -> Iterator[tuple]:
    for system in SYSTEMS:
        for i in range(count):
            yield system, _record(system, i), _hub(i), "exact_company_id", run_id, NOW, f"h{i}"


def _canonical(count: int, run_id: str) -> Iterator[tuple]:
    for system in SYSTEMS:
        for i in range(count):
            values = _values(i)
            if system == "crm" and i % 100_000 == 5:  # a handful of formula-like names
                values["legal_name"] = '=HYPERLINK("http://x","Firma")'
            if system == "accounting":
                values |= {"credit_limit": "150000.50", "payment_terms_days": 14}
            yield system, _record(system, i), values, f"h{i}", run_id


def _discrepancy(j: int, discrepancies: int, count: int) -> tuple[int, str, str]:
    """Company, system and field of the j-th discrepancy: consecutive ones that fall on the
    same company take another system and the same field."""
    i = j * count // discrepancies
    return i, SYSTEMS[j % len(SYSTEMS)], FIELDS[i % len(FIELDS)]


def _discrepancies(discrepancies: int, count: int, run_id: str) -> Iterator[tuple]:
    for j in range(discrepancies):
        i, system, field = _discrepancy(j, discrepancies, count)
        golden = _values(i).get(field)
        yield (run_id, _hub(i), system, _record(system, i), field, f"{golden} (old)", golden,
               "accounting", "source_priority", j % 2 == 0)


def _outbox(discrepancies: int, count: int, run_id: str) -> Iterator[tuple]:
    for j in range(0, discrepancies, 2):
        i, system, field = _discrepancy(j, discrepancies, count)
        yield (f"k{j}", run_id, system, _record(system, i), _hub(i), {field: _values(i).get(field)},
               "sent", 1, NOW)


def _checks(count: int, run_id: str) -> Iterator[tuple]:
    for i in range(3, count, 100):
        yield ("vies", f"CZ{i:08d}", NOW.date(), "invalid", f"WAPI{i}", {"request_date": "2026-12-07"},
               run_id, NOW)


def _metrics(count: int, run_id: str) -> Iterator[tuple]:
    for system in SYSTEMS:
        for metric in ("extracted", "matched"):
            yield run_id, system, metric, count
    yield run_id, "hub", "golden_changed", count


def _copy(engine: Engine, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
    loaded = 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        rows = iter(rows)
        pg = engine.dialect.name == "postgresql"
        while batch := [tuple(_db(v, pg) for v in row) for row in islice(rows, BATCH)]:
            if pg:
                _pg_copy(cursor, table, columns, batch)
            else:
                marks = ", ".join("?" * len(columns))
                names = ", ".join(f'"{c}"' for c in columns)
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", batch)
            loaded += len(batch)
        raw.commit()
    finally:
        raw.close()
    return loaded


def _pg_copy(cursor, table: str, columns: tuple[str, ...], batch: list[tuple]) -> None:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(batch)
    buffer.seek(0)
    quoted = ", ".join(f'"{c}"' for c in columns)
    cursor.copy_expert(f"COPY {table} ({quoted}) FROM STDIN WITH (FORMAT csv)", buffer)


def _db(value: object, pg: bool) -> object:
    """A value as the driver takes it; SQLite holds times as SQLAlchemy writes them (naive UTC)."""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if pg else value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value
