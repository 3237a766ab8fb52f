"""The registries step over the sandbox VIES, ARES and ISIR (loopback sockets, real zeep):
evidence stored per key and day, pending answers re-checked, unsafe answers refused unread, and
the accountants' findings with their evidence."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from connectors.registries.isir import IsirConnector
from connectors.registries.isir import Settings as IsirSettings
from core.clock import utcnow
from hub.pipeline.context import RunContext, metrics
from hub.pipeline.reconcile import reconcile_run
from hub.pipeline.registries import check_registries, due, evidence, field_evidence
from hub.pipeline.report import build_report
from hub.pipeline.runs import start_run
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, Discrepancy, GoldenRecord, Outbox, RegistryCheck
from tests.fixtures.soap import FAST_RETRY, airflow_conn_env, hub_context

pytestmark = pytest.mark.integration

COMPANIES = {  # crm record id -> what the CRM says
    "CRM-1": {"company_id": "27074358", "vat_id": "CZ25596641", "legal_name": "Asseco"},
    "CRM-2": {"company_id": "01603094", "vat_id": "CZ12345679", "legal_name": "Zaniklá s.r.o."},
    "CRM-3": {"vat_id": "FR40303265045", "country": "FR", "legal_name": "Société"},
    "CRM-4": {"company_id": "25596641", "legal_name": "Neznámá s.r.o."},  # ARES: 404
}


@pytest.fixture
def ctx(tmp_path, monkeypatch, vies_conn, ares_conn, isir_conn) -> RunContext:
    airflow_conn_env(monkeypatch, "custhub_vies", vies_conn)
    airflow_conn_env(monkeypatch, "custhub_ares", ares_conn)
    airflow_conn_env(monkeypatch, "custhub_isir", isir_conn)
    fast = {"retry_attempts": 2, **FAST_RETRY}
    ctx = hub_context(tmp_path, monkeypatch, {"vies": {**fast, "requester_vat_id": "CZ25596641"},
                                              "ares": fast, "isir": fast})
    with session_scope(ctx.engine) as session:
        for record_id, values in COMPANIES.items():
            session.add(CanonicalRecord(system="crm", record_id=record_id, source_hash="x",
                                        values={"country": "CZ", **values}, run_id=ctx.run_id))
    return ctx


@pytest.fixture
def isir(isir_conn) -> IsirConnector:
    return IsirConnector(IsirSettings(retry_attempts=2, **FAST_RETRY), isir_conn)


def _checks(ctx: RunContext) -> dict[tuple[str, str], RegistryCheck]:
    with session_scope(ctx.engine) as session:
        return {(c.registry_name, c.key): c for c in session.scalars(select(RegistryCheck))}


def _next_run(ctx: RunContext) -> RunContext:
    return RunContext(ctx.config, ctx.engine, start_run(ctx.engine, "test"))


def test_each_answer_is_stored_with_its_evidence(ctx, isir):
    counts = check_registries(ctx)  # hub.yaml's registries: ARES, VIES and ISIR
    icos = ["01603094", "25596641", "27074358"]
    assert due(ctx, "isir", icos, utcnow().date()) == []  # every ISIR answer was final
    assert counts == {"ares_found": 2, "ares_not_found": 1, "vies_valid": 1, "vies_invalid": 1,
                      "vies_unknown": 1, "isir_insolvent": 1, "isir_clear": 2}
    checks = _checks(ctx)
    valid = checks[("vies", "CZ25596641")]
    assert valid.request_identifier.startswith("WAPI")  # checkVatApprox: a consultation number
    asked_at = valid.checked_at if valid.checked_at.tzinfo else valid.checked_at.replace(tzinfo=UTC)
    # VIES's own day (Brussels), which after 23:00 UTC is the next day of checked_on's (UTC).
    assert valid.detail["request_date"] == asked_at.astimezone(ZoneInfo("Europe/Brussels")).date().isoformat()
    assert checks[("vies", "CZ12345679")].request_identifier  # an invalid answer has one too
    assert checks[("vies", "FR40303265045")].detail["fault"] == "MS_UNAVAILABLE"
    assert "INS 1234/2024 (KONKURS)" in checks[("isir", "27074358")].detail["case"]
    with session_scope(ctx.engine) as session:
        insolvent = session.get(CanonicalRecord, ("isir", "27074358"))
        assert insolvent.values == {"company_id": "27074358", "registry_status": "insolvent"}
        assert session.get(CanonicalRecord, ("ares", "01603094")).values["registry_status"] == \
            "dissolved"
        assert metrics(session, ctx.run_id)[("registries", "vies_unknown")] == 1


def test_final_answers_are_cached_for_the_day_and_unknown_is_asked_again(ctx, vies_service):
    check_registries(ctx)
    vies_service.records["FR40303265045"] = {"valid": True, "name": "Société"}
    asked_before = list(vies_service.checked)
    again = check_registries(_next_run(ctx))
    # ARES (404 NENALEZENO included) and the final VIES answers came from the day's cache.
    assert again == {"vies_valid": 1}
    assert vies_service.checked[len(asked_before):] == ["FR40303265045"]
    recheck = _checks(ctx)[("vies", "FR40303265045")]
    assert (recheck.status, recheck.detail["attempts"]) == ("valid", 2)


def test_ares_server_error_is_pending_not_fatal(ctx, ares_service):
    # both attempts of the bulk request that asks the three IČOs at once
    ares_service.fail_next("obecna_chyba", "obecna_chyba")
    assert check_registries(ctx)["ares_unknown"] == 3
    assert _checks(ctx)[("ares", "01603094")].status == "unknown"
    again = check_registries(_next_run(ctx))  # the pending IČOs are asked again
    assert (again["ares_found"], again["ares_not_found"]) == (2, 1)
    assert check_registries(_next_run(ctx)).get("ares_found") is None  # now the day's cache


def test_an_unsafe_answer_is_refused_unread_and_reported(ctx, vies_service):
    with session_scope(ctx.engine) as session:  # one VAT ID left, so the bomb hits it
        for record in session.scalars(select(CanonicalRecord).where(
                CanonicalRecord.record_id != "CRM-1")):
            session.delete(record)
    vies_service.fail_next("entity_bomb")
    assert check_registries(ctx)["vies_security_error"] == 1
    check = _checks(ctx)[("vies", "CZ25596641")]
    assert check.status == "security_error" and "DTD" in check.detail["reason"]
    assert check.request_identifier is None and "name" not in check.detail
    assert check_registries(_next_run(ctx)) == {"vies_valid": 1}  # asked again next run


def test_the_report_lists_what_accountants_must_see_with_evidence(ctx):
    check_registries(ctx)
    with session_scope(ctx.engine) as session:
        for n, values in enumerate(COMPANIES.values(), 1):
            status = {"01603094": "dissolved"}.get(values.get("company_id"), "active")
            session.add(GoldenRecord(hub_id=f"H{n:08d}", version=1, lineage={}, is_current=True,
                                     values={**values, "registry_status": status},
                                     run_id=ctx.run_id, created_at=utcnow()))
    findings = {(f.identifier, f.problem): f for f in build_report(ctx).findings}
    assert set(findings) == {("CZ12345679", "VAT ID invalid"), ("27074358", "insolvent"),
                             ("FR40303265045", "unknown: VAT ID not confirmed, re-check pending"),
                             ("01603094", "dissolved")}
    invalid = findings[("CZ12345679", "VAT ID invalid")]
    assert invalid.consultation.startswith("WAPI") and "request_date=" in invalid.evidence
    assert "INS 1234/2024" in findings[("27074358", "insolvent")].evidence
    assert "datumZaniku=2023-06-30" in findings[("01603094", "dissolved")].evidence


def test_evidence_for_lineage(ctx):
    check_registries(ctx)
    with session_scope(ctx.engine) as session:
        vat = evidence(session, "vies", "CZ25596641")
        assert vat["status"] == "valid" and vat["consultation"].startswith("WAPI")
        assert evidence(session, "vies", "FR40303265045") is None  # pending proves nothing
        legal_name = field_evidence(session, "ares", "27074358", "legal_name")
        assert (legal_name["registry"], legal_name["status"]) == ("ares", "found")
        assert field_evidence(session, "ares", "27074358", "email") is None


def _golden_by_ico(ctx: RunContext) -> dict[str, GoldenRecord]:
    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(GoldenRecord).where(GoldenRecord.is_current.is_(True)))
        return {g.values.get("company_id"): g for g in rows}


def test_registry_records_decide_status_with_evidence_but_are_no_customers(ctx):
    with session_scope(ctx.engine) as session:
        # Without its VAT ID, which ARES contradicts: CRM-1 then joins the registries' records.
        session.get(CanonicalRecord, ("crm", "CRM-1")).values = {
            "country": "CZ", "company_id": "27074358", "legal_name": "Asseco"}
    check_registries(ctx)
    with session_scope(ctx.engine) as session:  # an insolvency of a company we do not deal with
        session.add(CanonicalRecord(system="isir", record_id="45317054", source_hash="x",
                                    values={"company_id": "45317054",
                                            "registry_status": "insolvent"}, run_id=ctx.run_id))
    reconcile_run(ctx)
    golden = _golden_by_ico(ctx)
    assert set(golden) == {"27074358", "01603094", "25596641", None}  # CRM-3 has no IČO
    insolvent = golden["27074358"]
    assert insolvent.values["registry_status"] == "insolvent"  # ISIR wins over ARES "active"
    status = insolvent.lineage["registry_status"]
    assert (status["source"], status["registry_evidence"]["status"]) == ("isir", "insolvent")
    assert insolvent.lineage["legal_name"]["registry_evidence"]["registry"] == "ares"
    # ISIR found no ongoing proceeding: its "clear" leaves ARES's "dissolved" standing.
    assert golden["01603094"].values["registry_status"] == "dissolved"
    assert "registry_evidence" not in golden["25596641"].lineage.get("legal_name", {})
    with session_scope(ctx.engine) as session:
        corrected = {o.system for o in session.scalars(select(Outbox))}
        reported = {d.system for d in session.scalars(select(Discrepancy))}
    assert corrected | reported <= {"crm"}  # registries never receive corrections


def _only_vat_ids(ctx: RunContext, *vat_ids: str) -> None:
    with session_scope(ctx.engine) as session:
        for record in session.scalars(select(CanonicalRecord)):
            session.delete(record)
        for n, vat_id in enumerate(vat_ids):
            session.add(CanonicalRecord(system="crm", record_id=f"CRM-B{n}", source_hash="x",
                                        values={"country": "BE", "vat_id": vat_id},
                                        run_id=ctx.run_id))


def test_a_number_vies_will_not_check_is_recorded_as_refused_by_its_row(ctx, vies_service):
    _only_vat_ids(ctx, "BE400", "CZ25596641")  # EC test number 400: fault VAT_BLOCKED
    assert check_registries(ctx) == {"vies_refused": 1, "vies_valid": 1}
    check = _checks(ctx)[("vies", "BE400")]
    assert (check.status, check.detail["code"]) == ("refused", "VAT_BLOCKED")
    assert check_registries(_next_run(ctx)) == {}  # a final answer: the day's cache
