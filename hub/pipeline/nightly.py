"""The nightly batch as one call: the same steps, in the same order, that the nightly_batch DAG wires.

The run holds the store's lease from its first step to its end (hub.pipeline.exclusive): a
second run refuses, or waits with ``wait``. A system that fails is left out of the run or
holds it, as its ``on_failure`` says (hub.pipeline.isolation). A run a guard stops ends as
"awaiting_approval" without publishing; ``approve_and_resume`` finishes it once approved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from core.errors import CusthubError, RunFailed
from core.faults import fault_point
from hub.config import HubConfig
from hub.pipeline import isolation
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.exclusive import exclusive
from hub.pipeline.extract import extract
from hub.pipeline.guards import quarantine_overruns
from hub.pipeline.lease import Heartbeat
from hub.pipeline.map import map_system
from hub.pipeline.publish import publish
from hub.pipeline.reconcile import ReconcileResult, reconcile_run
from hub.pipeline.registries import check_registries
from hub.pipeline.report import write_run_report
from hub.pipeline.runs import (APPROVED, AWAITING_APPROVAL, external_run, finish_run, hold_run,
                               new_run_id, require_status, start_run)
from hub.pipeline.timings import timed


@dataclass(frozen=True)
class NightlyResult:
    run_id: str
    report: Path
    status: str = "succeeded"
    reconciled: ReconcileResult | None = None
    held: str | None = None  # why the run waits for approval


def run_nightly(config: HubConfig, *, dry_run: bool = False, external_id: str | None = None,
                wait: float | None = None) -> NightlyResult:
    """``wait``: seconds to wait for a run that holds the store; None refuses at once."""
    engine = open_store(config)
    # The lease's owner is the run id, so it is known first: a run joined by its external id
    # keeps its own; a run refused the lease leaves no run row behind.
    run_id = (external_id and external_run(engine, external_id)) or new_run_id()
    ctx = RunContext(config=config, engine=engine, run_id=run_id)
    with exclusive(ctx, wait=wait, process_bound=external_id is None) as heartbeat:
        start_run(engine, "nightly", external_id=external_id, dry_run=dry_run, run_id=run_id)
        try:
            return _steps(ctx, heartbeat)
        except RunFailed as e:  # other errors: exclusive() ends the run failed
            finish_run(engine, run_id, "failed", str(e))
            _report(ctx)
            raise


def _steps(ctx: RunContext, heartbeat: Heartbeat) -> NightlyResult:
    for system in ctx.config.enabled_systems():
        _extract_and_map(ctx, system)
        heartbeat.beat()
        fault_point("nightly.after_extract")
    for system, reason in quarantine_overruns(ctx).items():
        isolation.isolate(ctx, system, reason)
    if held := isolation.hold_reason(ctx):
        hold_run(ctx.engine, ctx.run_id, held)
        return NightlyResult(ctx.run_id, _report(ctx), AWAITING_APPROVAL, held=held)
    with timed(ctx, "registries"):
        check_registries(ctx)
    fault_point("nightly.after_registries")
    heartbeat.beat()
    return _reconcile_and_publish(ctx, heartbeat)


def _extract_and_map(ctx: RunContext, system: str) -> None:
    try:
        with timed(ctx, "extract", system):
            extract(ctx, system)
        fault_point(f"nightly.after_extract:{system}")
        with timed(ctx, "map", system):
            map_system(ctx, system)
    except CusthubError as e:
        if not isolation.isolable(e):
            raise
        isolation.isolate_error(ctx, system, e)


def approve_and_resume(config: HubConfig, run_id: str,
                       approve: Callable[[Engine], None]) -> NightlyResult:
    """Approve a held run and publish it, holding the store's lease throughout.

    ``approve``: a callable taking the engine (hub.review.approve_run with the steward's name)."""
    engine = open_store(config)
    ctx = RunContext(config=config, engine=engine, run_id=run_id)
    with exclusive(ctx, process_bound=True) as heartbeat:
        approve(engine)
        return _resume(ctx, heartbeat)


def resume_run(config: HubConfig, run_id: str) -> NightlyResult:
    """Finish a run a steward approved: reconcile with the guard lifted, then publish."""
    engine = open_store(config)
    ctx = RunContext(config=config, engine=engine, run_id=run_id)
    with exclusive(ctx) as heartbeat:
        return _resume(ctx, heartbeat)


def _resume(ctx: RunContext, heartbeat: Heartbeat) -> NightlyResult:
    require_status(ctx.engine, ctx.run_id, APPROVED)
    return _reconcile_and_publish(ctx, heartbeat)


def _reconcile_and_publish(ctx: RunContext, heartbeat: Heartbeat) -> NightlyResult:
    with timed(ctx, "reconcile"):
        result = reconcile_run(isolation.for_reconcile(ctx))
    fault_point("nightly.after_reconcile")
    if result.held:
        hold_run(ctx.engine, ctx.run_id, result.held)
        return NightlyResult(ctx.run_id, _report(ctx), AWAITING_APPROVAL, result,
                             result.held)
    left_out = isolation.excluded(ctx)
    for system in ctx.config.enabled_systems():
        if system not in left_out:
            heartbeat.beat()
            with timed(ctx, "publish", system):
                publish(ctx, system)
    fault_point("nightly.before_finish")
    finish_run(ctx.engine, ctx.run_id, "succeeded")
    return NightlyResult(ctx.run_id, _report(ctx), "succeeded", result)


def _report(ctx: RunContext) -> Path:
    with timed(ctx, "report"):
        return write_run_report(ctx)
