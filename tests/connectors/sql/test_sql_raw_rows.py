"""The view read straight from the DBAPI cursor (psycopg2, pyodbc) gives exactly what the
SQLAlchemy result gave: same records, same payload values and types, same page cursors."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import Write
from connectors.cursor import Cursor
from connectors.sql import SqlViewConnector, SqlViewSettings
from connectors.sql.rows import PLAIN, _pg_numeric, json_safe
from connectors.sql.urls import make_engine
from connectors.sql.writes import copy_rows
from sandbox import accounting_db
from tests.fixtures.databases import SqlDatabase

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 8, 30, 0)
ROWS = [
    {"customer_no": "ACC3", "company_name": "Dvořák; \"a\" syn\ts.r.o.", "ico": "27074358",
     "credit_limit": "150000.50", "payment_terms_days": 14, "updated_at": T0},
    {"customer_no": "ACC1", "company_name": "Nová\\Firma", "credit_limit": "0.01",
     "updated_at": T0},  # a backslash, and the rest NULL
    {"customer_no": "ACC2", "company_name": "", "credit_limit": "-12.00",
     "updated_at": T0 + timedelta(microseconds=250_000)},
    {"customer_no": "ACC0", "company_name": "Last", "credit_limit": "999999999999.99",
     "payment_terms_days": 0, "updated_at": T0 + timedelta(seconds=1, microseconds=5)},
]


def _as_before(db: SqlDatabase) -> list[tuple[str, dict[str, Any], datetime]]:
    """What the SQLAlchemy result path made of the view: (key, payload, watermark) in order."""
    engine = make_engine(db.conn)
    try:
        view = sa.Table(accounting_db.VIEW, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(view).order_by(view.c.updated_at, view.c.customer_no))
            return [(str(row.customer_no),
                     {k: v if type(v) in PLAIN else json_safe(v) for k, v in row._mapping.items()},
                     row.updated_at) for row in rows]
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite_db", "postgres_db", "odbc_postgres_db", "odbc_mariadb_db"])
def loaded(request: pytest.FixtureRequest) -> SqlDatabase:
    db: SqlDatabase = request.getfixturevalue(request.param)
    accounting_db.drop_schema(db.engine)
    accounting_db.create_schema(db.engine)
    accounting_db.load(db.engine, ROWS)
    return db


@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_records_and_cursors_are_those_of_the_sqlalchemy_result(loaded: SqlDatabase,
                                                                chunk_size: int) -> None:
    before = _as_before(loaded)
    with SqlViewConnector("accounting", SqlViewSettings(chunk_size=chunk_size),
                          loaded.conn) as connector:
        pages = list(connector.read_pages(None))

    records = [r for page in pages for r in page.records]
    assert [(r.record_id, r.payload) for r in records] == [(k, p) for k, p, _ in before]
    assert all(r.location == accounting_db.VIEW for r in records)
    for page in pages:  # each page's cursor is its last row's (watermark, key)
        last = next(b for b in before if b[0] == page.records[-1].record_id)
        assert page.cursor == Cursor(field="updated_at").after(last[2], last[0]).to_json()
    assert len(pages) == -(-len(ROWS) // chunk_size)


def test_a_resumed_read_starts_after_the_tie_on_the_key(loaded: SqlDatabase) -> None:
    with SqlViewConnector("accounting", SqlViewSettings(chunk_size=1), loaded.conn) as connector:
        first = next(iter(connector.read_pages(None)))
        rest = list(connector.read_pages(first.cursor))
    assert first.records[0].record_id == "ACC1"
    assert [r.record_id for p in rest for r in p.records] == ["ACC3", "ACC2", "ACC0"]


@pytest.mark.parametrize("text", ["150000.50", "0.01", "-12.00", "0", "NaN", "10.0000001",
                                  "0.0000001", "-0.00000012", "12345678901234567890.123"])
def test_postgres_numeric_text_is_what_the_decimal_printed(text: str) -> None:
    assert _pg_numeric(text, None) == str(Decimal(text))


def test_import_rows_arrive_exactly_and_once_whatever_they_hold(loaded: SqlDatabase) -> None:
    """Written with COPY on psycopg2, multi-row INSERTs elsewhere: the same rows either way,
    and a batch sent twice (or with a key repeated) leaves one row per idempotency key."""
    odd = ["tab\there", "line\nbreak\r\n", "back\\slash \\N", "", "\\N", "Dvořák; \"a\""]
    writes = [Write(f"w:{n}", f"ACC{n}", {"company_name": text, "city": None,
                                          "credit_limit": "12.30", "payment_terms_days": "7"})
              for n, text in enumerate(odd)]
    with SqlViewConnector("accounting", SqlViewSettings(), loaded.conn) as connector:
        first = connector.write(writes + writes[:2], "b1")
        second = connector.write(writes, "b1")

    assert first.applied == second.applied == [w.idempotency_key for w in writes]
    with loaded.engine.connect() as conn:
        got = conn.execute(sa.select(accounting_db.import_table)
                           .order_by(accounting_db.import_table.c.idempotency_key)).mappings().all()
    assert [(r["idempotency_key"], r["customer_no"], r["company_name"], r["city"],
             str(r["credit_limit"]), r["payment_terms_days"], r["batch_id"]) for r in got] == [
        (w.idempotency_key, w.record_id, w.values["company_name"], None, "12.30", 7, "b1")
        for w in writes]


def test_copy_still_meets_the_unique_key_a_concurrent_writer_relies_on(
        postgres_db: SqlDatabase) -> None:
    """A key inserted between our look-up and our COPY fails the COPY as an IntegrityError
    (classified as a data error, the batch retried), as the INSERT did."""
    accounting_db.drop_schema(postgres_db.engine)
    accounting_db.create_schema(postgres_db.engine)
    table = sa.Table("customer_import", sa.MetaData(), autoload_with=postgres_db.engine)
    row = {"batch_id": "b", "idempotency_key": "k1", "customer_no": "ACC1"}
    with postgres_db.engine.begin() as conn:
        copy_rows(conn, table, [row])
    with pytest.raises(sa.exc.IntegrityError), postgres_db.engine.begin() as conn:
        copy_rows(conn, table, [row])
