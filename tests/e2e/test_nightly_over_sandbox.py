"""The nightly sync over the whole sandbox estate, checked against the generator's ground truth."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hub.config import HubConfig
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.nightly import run_nightly
from hub.pipeline.report import build_report
from hub.store.db import session_scope
from hub.store.models import GoldenRecord, Outbox, Quarantine
from mappings.customer import Customer
from mappings.engine import load_spec, map_record
from reconciliation.comparison import same
from sandbox.estate import SandboxEstate
from sandbox.generator import TrueCompany

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _truth(c: TrueCompany) -> Customer:
    return Customer(company_id=c.company_id, vat_id=c.vat_id, legal_name=c.name,
                    legal_form=c.legal_form, street=c.street, city=c.city,
                    postal_code=c.postal_code, country=c.country, email=c.email, phone=c.phone,
                    iban=c.iban, payment_terms_days=c.payment_terms_days,
                    credit_limit=Decimal(c.credit_limit))


def _as_payload(record: dict) -> dict:
    return {k: v if v is None or isinstance(v, str) else str(v) for k, v in record.items()}


def _wrong_fields(config: HubConfig, estate: SandboxEstate) -> list[str]:
    truth = estate.generated.truth
    wrong = []
    for system, records in estate.system_records().items():
        spec = load_spec(config.systems[system].mapping)
        for record in records:
            key = (system, str(record[spec.record_id]))
            if key in truth.broken:
                continue
            held = map_record(spec, _as_payload(record))
            expected = _truth(truth.companies[truth.records[key]])
            wrong += [f"{key} {f}: {getattr(held, f)!r} != {getattr(expected, f)!r}"
                      for f in config.systems[system].receives if not _same(f, held, expected)]
    return wrong


def _same(field: str, held: Customer, expected: Customer) -> bool:
    """Equal by the field's comparison key: a name the ERP keeps in upper case holds the truth
    (issue 12: a difference in spelling only is not written back)."""
    held_value, expected_value = held.present().get(field), expected.present().get(field)
    return same(field, held_value, held.country, expected_value, expected.country)


def _registry_status_wrong(hub_config: HubConfig, estate: SandboxEstate, run_id: str) -> list[str]:
    """Every company the generator made insolvent or dissolved: its golden registry_status, and
    a finding in the report with the register's evidence. No other company has such a finding."""
    engine = open_store(hub_config)
    with session_scope(engine) as session:
        golden = {g.values["company_id"]: g for g in session.scalars(select(GoldenRecord).where(
            GoldenRecord.is_current.is_(True))) if g.values.get("company_id")}
    report = build_report(RunContext(hub_config, engine, run_id))
    findings = {(f.identifier, f.problem): f for f in report.findings
                if f.problem in ("insolvent", "dissolved")}
    czech = [c for c in estate.generated.registry if c.company_id]
    expected = {c.company_id: _status(c) for c in czech}
    held = {ico: golden[ico].values.get("registry_status") for ico in expected}
    wrong = [f"{ico}: golden {held[ico]} != {status}" for ico, status in expected.items()
             if held[ico] != status]
    wanted = {(ico, status) for ico, status in expected.items() if status != "active"}
    wrong += [f"finding {key} missing" for key in wanted - set(findings)]
    wrong += [f"unexpected finding {key}" for key in set(findings) - wanted]
    return wrong + [problem for c in czech if c.insolvent_since
                    for problem in _isir_evidence_wrong(c, findings, golden)]


def _status(c: TrueCompany) -> str:
    return "insolvent" if c.insolvent_since else "dissolved" if c.dissolved_on else "active"


def _isir_evidence_wrong(c: TrueCompany, findings: dict, golden: dict) -> list[str]:
    """The report quotes the case the sandbox ISIR files (sandbox.estate) and the check's date;
    the golden registry_status names the ISIR check in its lineage."""
    year = c.insolvent_since.year if c.insolvent_since else None
    case = f"INS {int(str(c.company_id)) % 9000 + 100}/{year} (KONKURS)"
    finding = findings.get((c.company_id, "insolvent"))
    wrong = []
    if finding is None or case not in finding.evidence or not finding.checked_on:
        wrong.append(f"{c.company_id}: no ISIR case {case} with its date in {finding}")
    lineage = golden[c.company_id].lineage["registry_status"]
    if lineage.get("registry_evidence", {}).get("registry") != "isir":
        wrong.append(f"{c.company_id}: golden lineage without ISIR evidence: {lineage}")
    return wrong


def test_every_system_holds_the_truth_after_the_sync(hub_config: HubConfig,
                                                     sandbox_estate: SandboxEstate) -> None:
    assert _wrong_fields(hub_config, sandbox_estate), "the generated estate should start with drift"
    generated = sandbox_estate.generated.registry
    assert any(c.insolvent_since for c in generated) and any(c.dissolved_on for c in generated)
    result = run_nightly(hub_config)
    sandbox_estate.process_inbound()
    assert _wrong_fields(hub_config, sandbox_estate) == []
    assert _registry_status_wrong(hub_config, sandbox_estate, result.run_id) == []
    engine = open_store(hub_config)
    with session_scope(engine) as session:
        quarantined = {(q.system, q.record_key) for q in session.scalars(select(Quarantine))}
    assert quarantined == set(sandbox_estate.generated.truth.broken)
    assert result.report.is_file() and "Per system" in result.report.read_text(encoding="utf-8")


def test_a_second_run_changes_nothing_and_says_so(hub_config: HubConfig,
                                                  sandbox_estate: SandboxEstate) -> None:
    first = run_nightly(hub_config)
    sandbox_estate.process_inbound()
    engine = open_store(hub_config)
    with session_scope(engine) as session:
        versions = session.scalar(select(func.count()).select_from(GoldenRecord))
        sent = session.scalar(select(func.count()).select_from(Outbox))
    second = run_nightly(hub_config)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(GoldenRecord)) == versions
        assert session.scalar(select(func.count()).select_from(Outbox)) == sent
    report = build_report(RunContext(hub_config, engine, second.run_id))
    assert report.nothing_changed
    assert sum(line.corrected for line in report.systems) == 0
    assert first.run_id != second.run_id
    assert "Nothing changed" in second.report.read_text(encoding="utf-8")


def test_report_figures_equal_the_store(hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    result = run_nightly(hub_config)
    engine = open_store(hub_config)
    report = build_report(RunContext(hub_config, engine, result.run_id))
    with session_scope(engine) as session:
        for line in report.systems:
            sent = session.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.system == line.system, Outbox.status == "sent"))
            held = session.scalar(select(func.count()).select_from(Quarantine).where(
                Quarantine.system == line.system))
            assert (line.corrected, line.quarantined) == (sent, held)
    extracted = {line.system: line.extracted for line in report.systems}
    generated = sandbox_estate.generated
    assert extracted == {"crm": len(generated.crm_accounts), "accounting": len(generated.accounting_rows),
                         "erp": len(generated.erp_partners)}


@pytest.mark.parametrize("hub_store_url", ["postgresql"], indirect=True)
def test_accounting_on_postgresql_through_an_odbc_dsn(hub_config: HubConfig,
                                                      odbc_accounting_estate: SandboxEstate) -> None:
    """The production shape: hub store on PostgreSQL, accounting reached by pyodbc through a DSN."""
    run_nightly(hub_config)
    odbc_accounting_estate.process_inbound()
    assert _wrong_fields(hub_config, odbc_accounting_estate) == []
