"""SqlViewConnector in depth: streaming, stored-procedure write-back, dialect quoting."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from connectors.base import Write
from connectors.errors import BadRecordError, ConnectorConfigError
from connectors.sql import SqlViewConnector, SqlViewSettings
from sandbox import accounting_db
from tests.fixtures.databases import SqlDatabase

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 8, 30, 0, 250_000)


@pytest.fixture
def db(any_sql_db: SqlDatabase) -> SqlDatabase:
    accounting_db.drop_schema(any_sql_db.engine)
    accounting_db.create_schema(any_sql_db.engine)
    return any_sql_db


def _load(db: SqlDatabase, count: int, start: int = 0) -> None:
    rows = [{"customer_no": f"ACC{n:07d}", "company_name": f"Firma {n} s.r.o. " + "x" * 150,
             "updated_at": T0 + timedelta(microseconds=n)} for n in range(start, start + count)]
    accounting_db.load(db.engine, rows)


def _connector(db: SqlDatabase, **settings: object) -> SqlViewConnector:
    return SqlViewConnector("accounting", SqlViewSettings(**settings), db.conn)  # type: ignore[arg-type]


# --- streaming: proved by how the rows travel, not by timing -------------------------------

def test_sqlite_pages_are_streamed_with_flat_memory(sqlite_db: SqlDatabase) -> None:
    accounting_db.drop_schema(sqlite_db.engine)
    accounting_db.create_schema(sqlite_db.engine)
    _load(sqlite_db, 10_000)
    with _connector(sqlite_db, chunk_size=250) as connector:
        tracemalloc.start()
        try:
            seen = sum(len(page.records) for page in connector.read_pages(None))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert seen == 10_000
    # 10,000 payloads held at once would need > 10 MB; a page of 250 needs well under 1 MB
    assert peak < 3_000_000, peak


def test_postgres_reads_through_a_server_side_cursor(postgres_db: SqlDatabase) -> None:
    """The server is asked for one chunk at a time (FETCH), never for the whole result.

    (psqlODBC does the same with UseDeclareFetch=1, which connectors.sql.urls always sets;
    its own catalog queries after each FETCH hide it from pg_stat_activity, so that case is
    checked on the connect string in test_sql_urls.)"""
    db = postgres_db
    accounting_db.drop_schema(db.engine)
    accounting_db.create_schema(db.engine)
    _load(db, 50)
    with _connector(db, chunk_size=10) as connector:
        pages = connector.read_pages(None)
        first = next(pages)
        queries = _pg_queries(db)
        rest = list(pages)
    assert len(first.records) == 10 and sum(len(p.records) for p in rest) == 40
    assert any(q.lower().startswith("fetch") or ";fetch " in q.lower() for q in queries), queries


def _pg_queries(db: SqlDatabase) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT query FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
            {"d": db.name}).scalars())


# --- write-back through a stored procedure -------------------------------------------------

@pytest.mark.parametrize("which", ["postgres_db", "mariadb_db", "odbc_postgres_db"])
def test_procedure_write_back_is_one_idempotent_batch(which: str,
                                                      request: pytest.FixtureRequest) -> None:
    db: SqlDatabase = request.getfixturevalue(which)
    accounting_db.drop_schema(db.engine)
    accounting_db.create_schema(db.engine)
    accounting_db.create_import_procedure(db.engine)
    accounting_db.load(db.engine, [{"customer_no": "ACC1", "company_name": "Firma", "city": "Ostrava"}])
    writes = [Write("p:ACC1", "ACC1", {"city": "Brno", "credit_limit": "99.90", "email": None}),
              Write("p:ACC1", "ACC1", {"city": "Brno"}),  # a repeat within the batch
              Write("p:ACC9", "ACC9", {"company_name": "Nová s.r.o.", "payment_terms_days": 30})]
    with _connector(db, import_procedure=accounting_db.PROCEDURE) as connector:
        assert connector.test_connection()[0]
        for _ in range(2):  # the retried batch
            assert connector.write(writes, "b-proc").applied == ["p:ACC1", "p:ACC9"]

    assert accounting_db.apply_imports(db.engine) == 2
    by_no = {r["customer_no"]: r for r in accounting_db.customers(db.engine)}
    assert by_no["ACC1"]["city"] == "Brno" and str(by_no["ACC1"]["credit_limit"]) == "99.90"
    assert by_no["ACC1"]["company_name"] == "Firma"  # not in the values: left unchanged
    assert by_no["ACC9"]["company_name"] == "Nová s.r.o."
    accounting_db.drop_schema(db.engine)


def test_a_failing_procedure_writes_nothing_of_the_batch(postgres_db: SqlDatabase) -> None:
    accounting_db.drop_schema(postgres_db.engine)
    accounting_db.create_schema(postgres_db.engine)
    accounting_db.create_import_procedure(postgres_db.engine)
    writes = [Write("ok", "ACC1", {"city": "Brno"}),
              Write("bad", "ACC2", {"payment_terms_days": "thirty"})]
    with _connector(postgres_db, import_procedure=accounting_db.PROCEDURE) as connector:
        with pytest.raises(BadRecordError, match="b-bad|calling"):
            connector.write(writes, "b-bad")
    with postgres_db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(
            accounting_db.import_table)).scalar_one() == 0  # one transaction: "ok" rolled back
    accounting_db.drop_schema(postgres_db.engine)


def test_sqlite_has_no_procedures_and_says_so(sqlite_db: SqlDatabase) -> None:
    accounting_db.drop_schema(sqlite_db.engine)
    accounting_db.create_schema(sqlite_db.engine)
    with _connector(sqlite_db, import_procedure="custhub_import_customer") as connector:
        with pytest.raises(ConnectorConfigError, match="SQLite has no stored procedures"):
            connector.write([Write("k", "ACC1", {"city": "Brno"})], "b")


def test_a_missing_procedure_is_a_config_error(postgres_db: SqlDatabase) -> None:
    accounting_db.drop_schema(postgres_db.engine)
    accounting_db.create_schema(postgres_db.engine)
    with _connector(postgres_db, import_procedure="no_such_procedure") as connector:
        ok, message = connector.test_connection()
        assert not ok and "no_such_procedure" in message
        with pytest.raises(ConnectorConfigError, match="does not exist"):
            connector.write([Write("k", "ACC1", {"city": "Brno"})], "b")


# --- configured names are quoted by the dialect --------------------------------------------

@pytest.fixture
def reserved_view(db: SqlDatabase) -> Iterator[SqlDatabase]:
    """A view named "order" with columns "group" and "from": reserved words everywhere."""
    t = accounting_db.customers_table
    select = sa.select(t.c.customer_no.label("group"), t.c.updated_at.label("from"))
    with db.engine.begin() as conn:
        conn.execute(sa.CreateView(select, "order"))
    yield db
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP VIEW {conn.dialect.identifier_preparer.quote('order')}")


def test_reserved_words_from_config_are_quoted_not_spliced(reserved_view: SqlDatabase) -> None:
    _load(reserved_view, 3)
    with _connector(reserved_view, view="order", key_column="group",
                    watermark_column="from", chunk_size=2) as connector:
        pages = list(connector.read_pages(None))
        resumed = list(connector.read_pages(pages[0].cursor))
        keys = sorted(connector.scan_keys())
    assert [r.record_id for p in pages for r in p.records] == keys == [
        "ACC0000000", "ACC0000001", "ACC0000002"]
    assert [r.record_id for p in resumed for r in p.records] == ["ACC0000002"]
