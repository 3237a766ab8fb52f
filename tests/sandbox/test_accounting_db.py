"""The simulated accounting system on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from sandbox import accounting_db
from tests.fixtures.databases import SqlDatabase

pytestmark = pytest.mark.integration

# docs/CONTRACTS.md, "Accounting (SQL view v_customers)"
CONTRACT_COLUMNS = ["customer_no", "company_name", "ico", "dic", "street", "city", "zip",
                    "country", "email", "phone", "iban", "payment_terms_days", "credit_limit",
                    "updated_at"]
T0 = datetime(2026, 1, 5, 9, 0, 0, 1)


@pytest.fixture
def engine(native_sql_db: SqlDatabase) -> sa.Engine:
    accounting_db.drop_schema(native_sql_db.engine)
    accounting_db.create_schema(native_sql_db.engine)
    return native_sql_db.engine


def queue(engine: sa.Engine, *rows: dict[str, object]) -> None:
    with engine.begin() as conn:
        for n, row in enumerate(rows):
            conn.execute(accounting_db.import_table.insert().values(
                batch_id="b1", idempotency_key=f"{row['customer_no']}-{n}", **row))


def test_schema_is_idempotent_and_the_view_has_the_contract_columns(engine: sa.Engine) -> None:
    accounting_db.create_schema(engine)
    inspector = sa.inspect(engine)
    assert [c["name"] for c in inspector.get_columns("v_customers")] == CONTRACT_COLUMNS
    assert {"customers", "customer_import"} <= set(inspector.get_table_names())


def test_load_and_read_back_exact_values(engine: sa.Engine) -> None:
    accounting_db.load(engine, [{"customer_no": "ACC10001", "company_name": "Dvořák a syn s.r.o.",
                                 "credit_limit": Decimal("150000.50"), "updated_at": T0}])
    (row,) = accounting_db.customers(engine)
    assert row["company_name"] == "Dvořák a syn s.r.o."
    assert row["credit_limit"] == Decimal("150000.50") and row["updated_at"] == T0


def test_apply_imports_in_id_order_null_unchanged_and_marks_processed(engine: sa.Engine) -> None:
    accounting_db.load(engine, [{"customer_no": "ACC1", "company_name": "Old", "city": "Praha",
                                 "updated_at": T0}])
    queue(engine, {"customer_no": "ACC1", "city": "Brno"},
          {"customer_no": "ACC1", "city": "Ostrava", "payment_terms_days": 30})

    assert accounting_db.apply_imports(engine) == 2
    (row,) = accounting_db.customers(engine)
    assert (row["company_name"], row["city"], row["payment_terms_days"]) == ("Old", "Ostrava", 30)
    assert row["updated_at"] > T0
    with engine.connect() as conn:
        pending = conn.execute(sa.select(sa.func.count()).select_from(accounting_db.import_table)
                               .where(accounting_db.import_table.c.processed_at.is_(None)))
        assert pending.scalar_one() == 0
    assert accounting_db.apply_imports(engine) == 0


def test_an_import_for_an_unknown_customer_creates_it(engine: sa.Engine) -> None:
    queue(engine, {"customer_no": "ACC9", "company_name": "Nová s.r.o.", "country": "CZ"})
    accounting_db.apply_imports(engine)
    assert [(r["customer_no"], r["company_name"]) for r in accounting_db.customers(engine)] == [
        ("ACC9", "Nová s.r.o.")]


def test_the_import_table_refuses_a_repeated_idempotency_key(engine: sa.Engine) -> None:
    queue(engine, {"customer_no": "ACC1"})
    with pytest.raises(sa.exc.IntegrityError):
        queue(engine, {"customer_no": "ACC1"})
