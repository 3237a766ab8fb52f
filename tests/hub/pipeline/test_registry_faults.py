"""The registries step under faults, over the sandbox VIES, ARES and ISIR (loopback sockets, real
zeep): no single answer stops the run, a WSDL that does not load is one configuration error,
progress is kept answer by answer, and a step ends at its deadline."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from hub.pipeline.context import RunContext, metrics
from core.clock import utcnow
from hub.pipeline.registries import check_registries, evidence
from hub.pipeline.report import build_report
from hub.pipeline.runs import start_run
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, GoldenRecord, RegistryCheck
from sandbox.isir_service import isir_proceeding
from sandbox.soap_server import Response
from sandbox.vies_service import HTML_ERROR_PAGE
from tests.fixtures.soap import FAST_RETRY, airflow_conn_env, hub_context, loopback_conn

pytestmark = pytest.mark.integration

FAST = {"retry_attempts": 2, **FAST_RETRY}


@pytest.fixture
def ctx(tmp_path, monkeypatch, vies_conn, ares_conn, isir_conn) -> RunContext:
    for name, conn in (("vies", vies_conn), ("ares", ares_conn), ("isir", isir_conn)):
        airflow_conn_env(monkeypatch, f"custhub_{name}", conn)
    return hub_context(tmp_path, monkeypatch, {"vies": FAST, "ares": FAST, "isir": FAST})


def _customers(ctx: RunContext, *values: dict[str, str]) -> None:
    with session_scope(ctx.engine) as session:
        for n, value in enumerate(values):
            session.add(CanonicalRecord(system="crm", record_id=f"CRM-{n}", source_hash="x",
                                        values=value, run_id=ctx.run_id))


def _changed(ctx: RunContext, name: str, connector: dict | None = None, *, alone: bool = False,
             **block: object) -> RunContext:
    """The same run with one registry's block and connector settings changed (``alone``: the
    only registry enabled)."""
    registry = ctx.config.registries[name]
    changed = registry.model_copy(update={
        **block, "connector": {**registry.connector, **(connector or {})}})
    others = {} if alone else ctx.config.registries
    config = ctx.config.model_copy(update={"registries": {**others, name: changed}})
    return RunContext(config, ctx.engine, ctx.run_id)


def _only(ctx: RunContext, name: str, connector: dict | None = None,
          **block: object) -> RunContext:
    return _changed(ctx, name, connector, alone=True, **block)


def _next_run(ctx: RunContext) -> RunContext:
    return RunContext(ctx.config, ctx.engine, start_run(ctx.engine, "test"))


def _checks(ctx: RunContext) -> dict[tuple[str, str], RegistryCheck]:
    with session_scope(ctx.engine) as session:
        return {(c.registry_name, c.key): c for c in session.scalars(select(RegistryCheck))}


def _a_new_day(ctx: RunContext) -> None:
    """Every check moved a day back, so that the next run asks again, as tomorrow's would."""
    with session_scope(ctx.engine) as session:
        for check in session.scalars(select(RegistryCheck)):
            check.checked_on -= timedelta(days=1)
            check.checked_at -= timedelta(days=1)


def test_no_single_answer_stops_the_run_each_fault_is_its_checks_status(ctx, vies_service):
    vies_service.records["BE0999999999"] = {"fault": "QUOTA_EXCEEDED"}  # no documented code
    _customers(ctx, *({"country": "BE", "vat_id": v} for v in (
        "BE400", "BE401", "BE0999999999", "CZ25596641")))  # 400 VAT_BLOCKED, 401 IP_BLOCKED
    assert check_registries(_only(ctx, "vies")) == {"vies_refused": 2, "vies_unknown": 1,
                                                   "vies_valid": 1}
    checks = _checks(ctx)
    for key, status, code in (("BE400", "refused", "VAT_BLOCKED"),
                              ("BE401", "refused", "IP_BLOCKED"), ("BE0999999999", "unknown", None)):
        check = checks[("vies", key)]
        assert check.status == status and check.detail["reason"]  # the fault is the evidence
        assert check.detail["code"] == code or "QUOTA_EXCEEDED" in check.detail["reason"]
    with session_scope(ctx.engine) as session:  # a refusal vouches for nothing
        assert evidence(session, "vies", "BE400") is None
        assert evidence(session, "vies", "CZ25596641")["status"] == "valid"


def test_an_html_error_page_is_retried_then_unknown(ctx, vies_service):
    _customers(ctx, {"country": "CZ", "vat_id": "CZ25596641"})
    vies_service.fail_next("html_page:200", "html_page:200")  # <!DOCTYPE html>, both attempts
    assert check_registries(_only(ctx, "vies")) == {"vies_unknown": 1}
    check = _checks(ctx)[("vies", "CZ25596641")]
    assert "not XML" in check.detail["reason"] and vies_service.requests_served == 2
    assert check_registries(_only(_next_run(ctx), "vies")) == {"vies_valid": 1}


def test_a_wsdl_url_that_serves_html_is_one_configuration_error(ctx, vies_service, caplog):
    _customers(ctx, *({"country": "CZ", "vat_id": f"CZ{10_000_000 + n}"} for n in range(5)),
               {"country": "CZ", "company_id": "27074358"})
    vies_service.wsdl_answer = Response(200, HTML_ERROR_PAGE, "text/html")
    counts = check_registries(_changed(ctx, "vies", {"wsdl_url": f"{vies_service.url}?wsdl"}))
    assert (counts["vies_config_error"], counts["vies_left"]) == (1, 5)
    assert counts["ares_found"] == 1 and counts["isir_insolvent"] == 1  # the run went on
    assert not any(registry == "vies" for registry, _ in _checks(ctx))  # no per-number rows
    assert vies_service.checked == []
    assert sum("did not load" in r.getMessage() for r in caplog.records) == 1  # said once
    with session_scope(ctx.engine) as session:
        assert metrics(session, ctx.run_id)[("registries", "vies_config_error")] == 1
    assert [n.split(" ")[:3] for n in build_report(ctx).registry_notes] == [
        ["VIES", "was", "not"]]


def test_our_requester_vat_id_refused_ends_the_vies_step_once(ctx, vies_service):
    _customers(ctx, *({"country": "CZ", "vat_id": v} for v in ("CZ25596641", "DE312635404")),
               {"country": "CZ", "company_id": "27074358"})
    # CZ12345679 is no valid VAT ID in the sandbox VIES: every check would be refused
    counts = check_registries(_changed(ctx, "vies", {"requester_vat_id": "CZ12345679"}))
    assert (counts["vies_config_error"], counts["vies_left"]) == (1, 2)
    assert counts["ares_found"] == 1 and not any(r == "vies" for r, _ in _checks(ctx))


def test_isir_not_found_does_not_clear_a_known_insolvency(ctx, isir_service):
    _customers(ctx, {"country": "CZ", "company_id": "27074358"})
    isir = _only(ctx, "isir")
    assert check_registries(isir) == {"isir_insolvent": 1}
    _a_new_day(ctx)
    isir_service.proceedings["27074358"] = []  # ISIR answers WS2, "no record found"
    assert check_registries(_next_run(isir)) == {"isir_unknown": 1}
    check = _checks(ctx)[("isir", "27074358")]
    assert (check.detail["answered"], check.detail["code"]) == ("clear", "WS2")
    with session_scope(ctx.engine) as session:
        assert session.get(CanonicalRecord, ("isir", "27074358")).values["registry_status"] == \
            "insolvent"
        # the evidence stays the answer that said so, not today's check
        assert evidence(session, "isir", "27074358")["status"] == "insolvent"
        session.add(GoldenRecord(hub_id="H00000001", version=1, lineage={}, is_current=True,
                                 values={"company_id": "27074358", "registry_status": "insolvent"},
                                 run_id=ctx.run_id, created_at=utcnow()))
    finding, = build_report(ctx).findings  # shown with the answer that said so
    assert (finding.problem, finding.registry) == ("insolvent", "isir")
    assert "INS 1234/2024 (KONKURS)" in finding.evidence and "WS2" not in finding.evidence
    _a_new_day(ctx)
    isir_service.proceedings["27074358"] = [
        isir_proceeding("27074358", "Asseco Central Europe, a.s.", "VYŘÍZENÁ")]
    assert check_registries(_next_run(isir)) == {"isir_clear": 1}  # a positive answer clears it
    with session_scope(ctx.engine) as session:
        assert session.get(CanonicalRecord, ("isir", "27074358")) is None


def test_ares_not_found_or_failing_does_not_clear_a_dissolution(ctx, ares_service):
    _customers(ctx, {"country": "CZ", "company_id": "01603094"})
    ares = _only(ctx, "ares")
    assert check_registries(ares) == {"ares_found": 1}
    for trouble in ("not found", "failing"):
        _a_new_day(ctx)
        if trouble == "not found":
            subject = ares_service.subjects.pop("01603094")
        else:
            ares_service.fail_next("obecna_chyba", "obecna_chyba")
        assert check_registries(_next_run(ares)) == {"ares_unknown": 1}
        with session_scope(ctx.engine) as session:
            record = session.get(CanonicalRecord, ("ares", "01603094"))
            assert record.values["registry_status"] == "dissolved"
            proof = evidence(session, "ares", "01603094")  # yesterday's answer, not today's
            assert proof["status"] == "found" and proof["checked_on"] < str(utcnow().date())
    ares_service.subjects["01603094"] = subject


def test_a_step_ends_at_its_deadline_when_ares_does_not_answer(ctx, monkeypatch):
    icos = [f"{27074358 + n:08d}" for n in range(6)]
    _customers(ctx, *({"country": "CZ", "company_id": i} for i in icos))
    with _black_hole() as port:  # accepts connections, never answers
        airflow_conn_env(monkeypatch, "custhub_ares", loopback_conn("ares", port))
        started = time.monotonic()
        counts = check_registries(_only(ctx, "ares", {"operation_timeout": 5.0},
                                        deadline_seconds=1.0))
        elapsed = time.monotonic() - started
    assert counts == {"ares_left": 6} and 1.0 <= elapsed < 2.5
    assert _checks(ctx) == {}  # nothing stored for what was not answered: due next run
    assert build_report(ctx).registry_notes == [
        "ARES: 6 check(s) not answered before the step's deadline; they are due in the next run."]


@pytest.fixture
def many_vat_ids(ctx, vies_service) -> list[str]:
    ids = [f"CZ{10_000_000 + n}" for n in range(12)]
    vies_service.records.update({v: {"valid": True} for v in ids})
    _customers(ctx, *({"country": "CZ", "vat_id": v} for v in ids))
    return ids


def test_a_kill_after_n_answers_keeps_n_and_the_next_run_asks_only_the_rest(
        ctx, vies_service, many_vat_ids, tmp_path):
    child = _child_run(ctx, tmp_path, "registries.after_answer@5")
    assert child.returncode == -signal.SIGKILL, child.stderr
    kept = {key for registry, key in _checks(ctx) if registry == "vies"}
    assert len(kept) == 5
    asked_before = len(vies_service.checked)
    assert check_registries(_only(_next_run(ctx), "vies")) == {"vies_valid": 7}
    assert sorted(vies_service.checked[asked_before:]) == sorted(set(many_vat_ids) - kept)


def _child_run(ctx: RunContext, tmp_path, points: str) -> subprocess.CompletedProcess[str]:
    """The VIES step in another process (the store and connections from the environment),
    killed at the fault points named."""
    script = tmp_path / "child.py"
    script.write_text(
        "import json, sys\n"
        "from hub.config import load_config\n"
        "from hub.pipeline.context import RunContext, open_store\n"
        "from hub.pipeline.registries import check_registries\n"
        "config = load_config()\n"
        "vies = config.registries['vies']\n"
        "vies = vies.model_copy(update={'connector': {**vies.connector, **json.loads(sys.argv[2])}})\n"
        "config = config.model_copy(update={'registries': {'vies': vies}})\n"
        "check_registries(RunContext(config, open_store(config), sys.argv[1]))\n")
    env = {**os.environ, "CUSTHUB_FAULT_POINTS": points,
           "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, str(script), ctx.run_id, json.dumps(FAST)],
                          capture_output=True, text=True, env=env, timeout=120)


@contextmanager
def _black_hole() -> Iterator[int]:
    """A loopback port whose kernel accepts connections that nobody ever reads or answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]
