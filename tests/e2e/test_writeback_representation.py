"""A correction reaches each sandbox system in that system's own representation (issue 11).

Outbox rows are written as JSON leaves them (a credit limit as the text "150000.50") and
as a person or an older hub may have (the text "150000,50", days as text); the real
publish path (outbox -> publish -> connector over SOAP, SQL and SFTP) sends them, and
what each system then holds is read back raw: the ERP import file's bytes, the
accounting import table's row, the CRM's stored account. Then each system's own import
job applies what it got, the ERP's strictly by its decimal comma.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from core.clock import utcnow
from hub.config import HubConfig
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.publish import publish
from hub.pipeline.runs import start_run
from hub.store.db import session_scope
from hub.store.models import Outbox
from mappings.engine import load_spec
from sandbox import accounting_db
from sandbox.erp_system import import_errors
from sandbox.estate import SandboxEstate

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

# A correction of every field some system receives, as the outbox holds it after JSON.
AS_JSON_LEAVES_IT: dict[str, Any] = {
    "legal_name": "Dvořák a syn s.r.o.", "company_id": "27074358", "vat_id": "CZ27074358",
    "street": "Dlouhá 12", "city": "Ústí nad Labem", "postal_code": "40001", "country": "CZ",
    "email": "info@dvorak.cz", "phone": "+420602123456", "payment_terms_days": 45,
    "credit_limit": "150000.50",
}
# The same in the other forms an outbox row may hold: a decimal comma, days as text.
AS_TYPED_BY_HAND = AS_JSON_LEAVES_IT | {"credit_limit": "150000,50", "payment_terms_days": "45"}
# Not in accounting's `receives` (the accountants own money), but its spec writes both
# columns, and the import table's numeric column is where a Decimal must arrive as one.
ACCOUNTING_EXTRA = ("payment_terms_days", "credit_limit")
LIMIT, DAYS = Decimal("150000.50"), 45


def _first_ids(estate: SandboxEstate) -> dict[str, list[str]]:
    g = estate.generated
    return {"crm": [a["AccountId"] for a in g.crm_accounts[:2]],
            "accounting": [r["customer_no"] for r in g.accounting_rows[:2]],
            "erp": [p["PARTNER_ID"] for p in g.erp_partners[:2]]}


def _fields(config: HubConfig, system: str) -> list[str]:
    extra = ACCOUNTING_EXTRA if system == "accounting" else ()
    return [*config.systems[system].receives, *extra]


def _queue(ctx: RunContext, estate: SandboxEstate) -> None:
    """Two outbox rows per system, one in each form, with every field the system receives."""
    versions = {a["AccountId"]: str(a["Version"]) for a in estate.crm.accounts()}
    with session_scope(ctx.engine) as session:
        for system, ids in _first_ids(estate).items():
            fields = _fields(ctx.config, system)
            for record_id, form in zip(ids, (AS_JSON_LEAVES_IT, AS_TYPED_BY_HAND), strict=True):
                session.add(Outbox(
                    idempotency_key=f"repr-{system}-{record_id}", run_id=ctx.run_id,
                    system=system, record_id=record_id, hub_id=f"H-{record_id}"[:32],
                    values={f: form[f] for f in fields},
                    expected_version=versions.get(record_id) if system == "crm" else None,
                    status="pending", attempts=0, created_at=utcnow()))


def _expected_text(field: str) -> str:
    return str(AS_JSON_LEAVES_IT[field])


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_each_system_gets_every_field_it_receives_in_its_own_form(
        hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    engine = open_store(hub_config)
    ctx = RunContext(hub_config, engine, start_run(engine, "test"))
    _queue(ctx, sandbox_estate)
    for system in ("crm", "accounting", "erp"):
        assert publish(ctx, system) == {"sent": 2}, system

    _check_erp_file(hub_config, sandbox_estate, ctx.run_id)
    _check_accounting_rows(hub_config, sandbox_estate, ctx.run_id)
    _check_crm_accounts(hub_config, sandbox_estate)

    assert sandbox_estate.process_inbound() == {"accounting": 2, "erp": 2}
    assert import_errors(sandbox_estate.erp.files_root) == {}
    ids = _first_ids(sandbox_estate)
    erp = {p["PARTNER_ID"]: p for p in sandbox_estate.erp.partners()}
    assert [(erp[i]["UVEROVY_LIMIT"], erp[i]["SPLATNOST_DNI"]) for i in ids["erp"]] == \
        [(LIMIT, DAYS)] * 2
    accounting = {c["customer_no"]: c for c in accounting_db.customers(sandbox_estate.accounting)}
    assert [(accounting[i]["credit_limit"], accounting[i]["payment_terms_days"])
            for i in ids["accounting"]] == [(LIMIT, DAYS)] * 2


def _check_erp_file(config: HubConfig, estate: SandboxEstate, run_id: str) -> None:
    """The file's raw bytes: the spec's encoding and delimiter, the decimal comma, a header."""
    fmt = load_spec("erp").format
    assert fmt is not None and fmt.decimal_comma
    [path] = (estate.root / "erp" / "import").glob(f"*{run_id}*")
    raw = path.read_bytes()
    assert "Ústí nad Labem".encode(fmt.encoding) in raw
    assert "Ústí".encode("utf-8") not in raw
    assert raw.count(f"{fmt.delimiter}150000,50\r\n".encode(fmt.encoding)) == 2
    assert b"150000.50" not in raw
    header, *rows = list(csv.reader(io.StringIO(raw.decode(fmt.encoding), newline=""),
                                    delimiter=fmt.delimiter))
    columns = load_spec("erp").writable_fields()
    assert header == ["PARTNER_ID", *(columns[f] for f in _fields(config, "erp"))]
    expected = {columns[f]: _expected_text(f) for f in _fields(config, "erp")}
    expected["UVEROVY_LIMIT"] = "150000,50"
    assert [dict(zip(header, row, strict=True)) for row in rows] == \
        [{"PARTNER_ID": i, **expected} for i in _first_ids(estate)["erp"]]


def _check_accounting_rows(config: HubConfig, estate: SandboxEstate, run_id: str) -> None:
    """The import table's rows: a Decimal in the numeric column, an int, the texts as given."""
    db = estate.accounting
    numeric = {c["name"]: c["type"] for c in sa.inspect(db).get_columns("customer_import")}
    assert isinstance(numeric["credit_limit"], sa.Numeric) and numeric["credit_limit"].scale == 2
    table = accounting_db.import_table
    with db.connect() as conn:
        rows = conn.execute(sa.select(table).where(table.c.batch_id == f"{run_id}-accounting")
                            .order_by(table.c.customer_no)).mappings().all()
    columns = load_spec("accounting").writable_fields()
    held = [{columns[f]: row[columns[f]] for f in _fields(config, "accounting")} for row in rows]
    texts = {columns[f]: _expected_text(f) for f in config.systems["accounting"].receives}
    assert held == [texts | {"credit_limit": LIMIT, "payment_terms_days": DAYS}] * 2
    assert all(type(row["credit_limit"]) is Decimal and str(row["credit_limit"]) == "150000.50"
               for row in rows)


def _check_crm_accounts(config: HubConfig, estate: SandboxEstate) -> None:
    """The CRM's stored accounts: each element as the SOAP schema types it (all xsd:string
    restrictions: the CRM holds no amount or number of days)."""
    columns = load_spec("crm").writable_fields()
    accounts = {a["AccountId"]: a for a in estate.crm.accounts()}
    expected = {columns[f]: _expected_text(f) for f in _fields(config, "crm")}
    for account_id in _first_ids(estate)["crm"]:
        held = {c: accounts[account_id][c] for c in expected}
        assert held == expected, account_id
        assert all(type(v) is str for v in held.values())


@pytest.mark.parametrize("hub_store_url", ["postgresql"], indirect=True)
def test_the_accounting_numeric_column_gets_a_decimal_through_odbc(
        hub_config: HubConfig, odbc_accounting_estate: SandboxEstate) -> None:
    """The production shape (PostgreSQL reached by pyodbc through a DSN): the driver's own
    answer for the numeric(14,2) column is the Decimal 150000.50, from either outbox form."""
    engine = open_store(hub_config)
    ctx = RunContext(hub_config, engine, start_run(engine, "test"))
    _queue(ctx, odbc_accounting_estate)
    assert publish(ctx, "accounting") == {"sent": 2}
    with odbc_accounting_estate.accounting.connect() as conn:
        raw = conn.exec_driver_sql(
            "SELECT credit_limit, payment_terms_days FROM customer_import ORDER BY customer_no")
        rows = [tuple(row) for row in raw]
        assert rows == [(LIMIT, DAYS)] * 2
        assert {(type(limit), str(limit)) for limit, _ in rows} == {(Decimal, "150000.50")}
        kind = conn.exec_driver_sql(
            "SELECT data_type, numeric_scale FROM information_schema.columns "
            "WHERE table_name = 'customer_import' AND column_name = 'credit_limit'").one()
    assert tuple(kind) == ("numeric", 2)
