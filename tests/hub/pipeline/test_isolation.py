"""Failure isolation over the sandbox estate: a garbage ERP file or an SFTP server that is down
leaves the ERP out of the run while CRM and accounting reconcile and publish; ``on_failure:
hold_run`` holds the run instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.config import HubConfig
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.isolation import HOLD, SKIP, excluded
from hub.pipeline.nightly import approve_and_resume, run_nightly
from hub.pipeline.report import build_report
from hub.review import approve_run
from hub.store.db import session_scope
from hub.store.models import Outbox, Run, SourceRecord, Xref
from hub.summary import print_summary
from rich.console import Console
from sandbox.estate import SandboxEstate

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _garbage_export(estate: SandboxEstate) -> Path:
    """Tonight's ERP export is 5 MB of random bytes (its .done marker says it is complete)."""
    export = estate.root / "erp" / "export"
    for old in export.iterdir():
        old.unlink()
    (export / "customers-20990101.csv").write_bytes(os.urandom(5_000_000))
    (export / "customers-20990101.csv.done").write_bytes(b"")
    return export


def _break(cause: str, estate: SandboxEstate) -> None:
    if cause == "garbage file":
        _garbage_export(estate)
    else:
        estate.sftp.stop()  # the SFTP server is down: connection refused, retried, given up


def _sent(hub_config: HubConfig, run_id: str) -> dict[str, int]:
    with session_scope(open_store(hub_config)) as session:
        rows = session.execute(select(Outbox.system, func.count()).where(
            Outbox.run_id == run_id).group_by(Outbox.system))
        return dict(rows.tuples().all())


@pytest.mark.parametrize("cause", ["garbage file", "sftp down"])
def test_a_failing_erp_is_skipped_and_the_others_publish(hub_config: HubConfig, sandbox_estate: SandboxEstate,
                                                         cause: str) -> None:
    _break(cause, sandbox_estate)
    result = run_nightly(hub_config)
    assert result.status == "succeeded"
    ctx = RunContext(hub_config, open_store(hub_config), result.run_id)
    assert excluded(ctx) == {"erp": SKIP}
    corrections = _sent(hub_config, result.run_id)
    assert corrections.get("crm") and corrections.get("accounting"), corrections
    assert "erp" not in corrections  # no correction computed for the system left out
    with session_scope(ctx.engine) as session:
        assert session.scalar(select(func.count()).where(
            Outbox.run_id == result.run_id, Outbox.status == "sent")) == sum(corrections.values())
        message = session.get(Run, result.run_id).message
    assert message.startswith("erp skipped: ")
    assert "erp skipped: " in result.report.read_text(encoding="utf-8")
    console = Console(record=True, width=200)
    print_summary(build_report(ctx), result.report, console, skipped=excluded(ctx))
    shown = console.export_text()
    assert "erp (skipped)" in shown and "Left out of this run: erp skipped: " in shown


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_a_skipped_system_is_not_taken_for_deleted(hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    first = run_nightly(hub_config)
    engine = open_store(hub_config)
    with session_scope(engine) as session:
        linked = session.scalar(select(func.count()).select_from(Xref).where(Xref.system == "erp"))
    assert first.status == "succeeded" and linked
    _garbage_export(sandbox_estate)
    second = run_nightly(hub_config)
    assert second.status == "succeeded"
    assert excluded(RunContext(hub_config, engine, second.run_id)) == {"erp": SKIP}
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).where(
            SourceRecord.system == "erp", SourceRecord.deleted_at.is_not(None))) == 0
        assert session.scalar(select(func.count()).select_from(Xref).where(Xref.system == "erp")) == linked
    assert "erp" not in _sent(hub_config, second.run_id)


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_hold_run_holds_the_run_instead(hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    erp = hub_config.systems["erp"].model_copy(update={"on_failure": "hold_run"})
    config = hub_config.model_copy(update={"systems": {**hub_config.systems, "erp": erp}})
    _garbage_export(sandbox_estate)
    result = run_nightly(config)
    assert result.status == "awaiting_approval"
    assert "erp failed (on_failure: hold_run)" in (result.held or "")
    ctx = RunContext(config, open_store(config), result.run_id)
    assert excluded(ctx) == {"erp": HOLD}
    assert _sent(config, result.run_id) == {}  # nothing reconciled into the outbox, nothing sent
    with session_scope(ctx.engine) as session:
        assert session.get(Run, result.run_id).status == "awaiting_approval"
    approved = approve_and_resume(config, result.run_id,
                                  lambda engine: approve_run(engine, result.run_id, "steward"))
    assert approved.status == "succeeded"
    corrections = _sent(config, result.run_id)  # approved: the others publish, the ERP gets nothing
    assert corrections.get("crm") and corrections.get("accounting") and "erp" not in corrections
