"""The registries step as a budgeted queue, over the sandbox ISIR, ARES and VIES (loopback
sockets, real zeep and requests): the budget, the order (new, changed, then oldest), the rate,
ARES in bulk, VIES's caps and member states reported down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub.pipeline.context import RunContext, metrics
from hub.pipeline.registries import check_registries
from hub.pipeline.report import build_report, registry_notes
from hub.pipeline.runs import start_run
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, RegistryCheck, Run, SourceRecord
from core.clock import utcnow
from core.hashing import content_hash
from hub.pipeline.map import map_in
from sandbox.ares_service import ares_subject
from tests.fixtures.soap import FAST_RETRY, airflow_conn_env, hub_context

pytestmark = pytest.mark.integration

FAST = {"retry_attempts": 2, **FAST_RETRY}
ICOS = [f"{45_000_000 + n:08d}" for n in range(5)]
VALID = ["25596641", "27074358", "45317054"]  # IČOs with their checksum: they map


@pytest.fixture
def ctx(tmp_path, monkeypatch, vies_conn, ares_conn, isir_conn) -> RunContext:
    for name, conn in (("vies", vies_conn), ("ares", ares_conn), ("isir", isir_conn)):
        airflow_conn_env(monkeypatch, f"custhub_{name}", conn)
    return hub_context(tmp_path, monkeypatch, {"vies": FAST, "ares": FAST, "isir": FAST})


def _only(ctx: RunContext, name: str, connector: dict | None = None,
          **block: object) -> RunContext:
    """The run with one registry only, its block and connector settings changed."""
    registry = ctx.config.registries[name]
    changed = registry.model_copy(update={
        **block, "connector": {**registry.connector, **(connector or {})}})
    return RunContext(ctx.config.model_copy(update={"registries": {name: changed}}), ctx.engine,
                      ctx.run_id)


def _next_run(ctx: RunContext) -> RunContext:
    return RunContext(ctx.config, ctx.engine, start_run(ctx.engine, "test"))


def _customers(ctx: RunContext, field: str, *keys: str, country: str = "CZ") -> None:
    with session_scope(ctx.engine) as session:
        for key in keys:
            session.add(CanonicalRecord(system="crm", record_id=f"CRM-{key}", source_hash="x",
                                        values={"country": country, field: key},
                                        run_id=ctx.run_id))


def _checks(ctx: RunContext, registry: str) -> dict[str, RegistryCheck]:
    with session_scope(ctx.engine) as session:
        return {c.key: c for c in session.scalars(select(RegistryCheck).where(
            RegistryCheck.registry_name == registry))}


def _time_passes(ctx: RunContext, days: int, *, keys: tuple[str, ...] = ()) -> None:
    """Every run and check moved ``days`` back (only the checks of ``keys``, when named)."""
    with session_scope(ctx.engine) as session:
        for check in session.scalars(select(RegistryCheck)):
            if not keys or check.key in keys:
                check.checked_on -= timedelta(days=days)
                check.checked_at -= timedelta(days=days)
        if not keys:
            for run in session.scalars(select(Run)):
                run.started_at -= timedelta(days=days)


def test_the_budget_is_respected_and_the_rest_is_asked_by_the_next_runs(ctx, isir_service):
    _customers(ctx, "company_id", *ICOS)
    isir = _only(ctx, "isir", budget_per_run=2)
    assert check_registries(isir) == {"isir_clear": 2, "isir_not_checked": 3, "isir_budget": 2}
    assert isir_service.asked == ICOS[:2]
    note, = build_report(isir).registry_notes
    assert note == ("ISIR: 3 companies not yet checked (budget 2 per run); they are checked in "
                    "the coming runs, new and changed first, then the oldest checks.")
    assert check_registries(_next_run(isir)) == {"isir_clear": 2, "isir_not_checked": 1,
                                                 "isir_budget": 2}
    assert check_registries(_next_run(isir)) == {"isir_clear": 1}
    assert check_registries(_next_run(isir)) == {}  # every answer is final and fresh
    assert isir_service.asked == ICOS  # each key once


def test_new_and_changed_keys_first_then_the_oldest_checks(ctx, isir_service):
    _customers(ctx, "company_id", *ICOS)
    isir = _only(ctx, "isir", budget_per_run=2)
    for _ in range(3):
        check_registries(_next_run(isir))
    recheck = ctx.config.registries["isir"].recheck_after_days
    _time_passes(ctx, recheck)  # every answer is now due again...
    _time_passes(ctx, 3, keys=(ICOS[4],))  # ...this one the oldest
    later = _next_run(isir)
    _customers(later, "company_id", "46000000")  # a new company
    with session_scope(ctx.engine) as session:  # and one a record took since its check
        session.execute(update(CanonicalRecord).where(CanonicalRecord.record_id == f"CRM-{ICOS[2]}")
                        .values(run_id=later.run_id, keys_run_id=later.run_id))
    asked = len(isir_service.asked)
    assert check_registries(later)["isir_not_checked"] == 4
    assert isir_service.asked[asked:] == ["46000000", ICOS[2]]
    check_registries(_next_run(isir))
    assert isir_service.asked[asked + 2:] == [ICOS[4], ICOS[0]]  # then the oldest first


def _stage(ctx: RunContext, accounts: dict[str, tuple[str, str]]) -> None:
    """The CRM's accounts (id: name, IČO) staged in ctx's run and mapped as the map step maps."""
    with session_scope(ctx.engine) as session:
        for account, (name, ico) in accounts.items():
            payload = {"AccountId": account, "Name": name, "CompanyId": ico, "CountryCode": "CZ"}
            row = session.scalar(select(SourceRecord).where(SourceRecord.record_id == account))
            if row is None:
                row = SourceRecord(system="crm", record_id=account, fetched_at=utcnow())
                session.add(row)
            row.payload, row.content_hash, row.run_id = payload, content_hash(payload), ctx.run_id
        session.flush()
        map_in(session, ctx, "crm")


def test_a_record_mapped_again_keeps_its_keys_place_in_the_queue(ctx, isir_service):
    isir = _only(ctx, "isir")
    _stage(isir, {"A": ("Alfa s.r.o.", VALID[0]), "B": ("Beta s.r.o.", VALID[1]),
                  "C": ("Gama s.r.o.", VALID[2])})
    check_registries(isir)
    later = _next_run(isir)
    # A comes back renamed (as after a correction the hub sent), its IČO as it was: not asked
    # again; B now holds C's IČO, which a record took after its check: asked again.
    _stage(later, {"A": ("ALFA s.r.o.", VALID[0]), "B": ("Beta s.r.o.", VALID[2])})
    asked = len(isir_service.asked)
    check_registries(later)
    assert isir_service.asked[asked:] == [VALID[2]]
    check_registries(_next_run(isir))
    assert len(isir_service.asked) == asked + 1  # every answer fresh again


def test_the_rate_holds_the_step_to_its_deadline(ctx, isir_service):
    _customers(ctx, "company_id", *ICOS)
    # One request a second and 1.5 s: a token at once, another after a second, no third.
    counts = check_registries(_only(ctx, "isir", rate_per_second=1, deadline_seconds=1.5))
    assert 1 <= len(isir_service.asked) <= 2
    assert counts["isir_clear"] + counts["isir_left"] == len(ICOS)
    assert len(_checks(ctx, "isir")) == counts["isir_clear"]  # the rest is due, not stored


def test_ares_is_asked_in_bulk_with_the_one_by_one_answers(ctx, ares_service):
    ares_service.subjects["45317054"] = ares_subject("45317054", "Firma s.r.o.", "112", None, 1,
                                                     None, "Cítov", "277 04")
    _customers(ctx, "company_id", "27074358", "01603094", "25596641", "45317054", "123456789")
    counts = check_registries(_only(ctx, "ares", {"bulk_size": 2}))
    assert counts == {"ares_found": 3, "ares_not_found": 1, "ares_invalid_input": 1}
    # 5 keys, 2 a batch: 3 requests (the malformed one is answered without a call)
    assert ares_service.searches == ares_service.requests_served == 3
    checks = _checks(ctx, "ares")
    assert checks["27074358"].detail["obchodniJmeno"] == "Asseco Central Europe, a.s."
    assert checks["25596641"].detail["kod"] == "NENALEZENO"
    assert checks["123456789"].status == "invalid_input"
    with session_scope(ctx.engine) as session:
        assert session.get(CanonicalRecord, ("ares", "45317054")).values["legal_name"] == \
            "Firma s.r.o."


def _vat_ids(vies_service, n: int) -> list[str]:
    ids = [f"CZ{10_000_000 + i}" for i in range(n)]
    vies_service.records.update({v: {"valid": True} for v in ids})
    return ids


def test_vies_overload_past_the_sandbox_cap_leaves_keys_due_never_invalid(ctx, vies_service):
    ids = _vat_ids(vies_service, 24)
    _customers(ctx, "vat_id", *ids)
    vies_service.gauge.limit, vies_service.latency = 1, 0.02  # CZ serves one request at a time
    too_many = {"max_concurrent_per_country": 6, "max_workers": 6}  # our cap set too high
    counts = check_registries(_only(ctx, "vies", too_many))
    assert vies_service.gauge.refused["CZ"] > 0  # VIES pushed back
    assert counts["vies_busy"] > 0 and counts["vies_valid"] + counts["vies_busy"] == len(ids)
    checks = _checks(ctx, "vies")
    assert {c.status for c in checks.values()} == {"valid"}  # no refusal stored as an answer
    again = check_registries(_next_run(_only(ctx, "vies", {"max_concurrent_per_country": 1})))
    assert again == {"vies_valid": counts["vies_busy"]}  # the cap right: the rest answered
    assert len(_checks(ctx, "vies")) == len(ids)


def test_a_member_state_reported_down_is_skipped_and_its_keys_stay_due(ctx, vies_service):
    ids = _vat_ids(vies_service, 3) + ["FR40303265045", "FR12345678901"]
    vies_service.records["FR40303265045"] = vies_service.records["FR12345678901"] = {
        "valid": True}
    _customers(ctx, "vat_id", *ids)
    vies_service.down = {"FR"}
    vies = _only(ctx, "vies", budget_per_run=3)
    counts = check_registries(vies)
    # FR is neither asked nor charged to the budget: the three CZ numbers fit it
    assert counts == {"vies_valid": 3, "vies_member_state_unavailable": 2}
    assert not any(v.startswith("FR") for v in vies_service.checked)
    assert set(_checks(ctx, "vies")) == set(ids[:3])
    assert build_report(vies).registry_notes == [
        "VIES: 2 VAT ID(s) not checked: their member state was reported unavailable; they are "
        "due in the next run."]
    vies_service.down = set()
    assert check_registries(_next_run(vies)) == {"vies_valid": 2}


def test_the_note_for_a_first_load_says_how_many_wait():
    figures = {("registries", "ares_not_checked"): 812_000, ("registries", "ares_budget"): 5_000,
               ("registries", "vies_busy"): 3}
    assert registry_notes(figures) == [
        "ARES: 812,000 companies not yet checked (budget 5,000 per run); they are checked in the "
        "coming runs, new and changed first, then the oldest checks.",
        "VIES: 3 VAT ID(s) not checked: VIES was busy (too many requests in flight) after the "
        "retries; they are due in the next run."]


def test_the_counts_are_kept_as_the_run_metrics(ctx):
    _customers(ctx, "company_id", *ICOS)
    check_registries(_only(ctx, "isir", budget_per_run=4))
    with session_scope(ctx.engine) as session:
        figures = metrics(session, ctx.run_id)
    assert (figures[("registries", "isir_not_checked")],
            figures[("registries", "isir_budget")]) == (1, 4)
