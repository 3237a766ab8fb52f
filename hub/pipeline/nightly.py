"""The nightly batch as one call: the same steps, in the same order, that the nightly_batch DAG wires.

A run a guard stops ends as "awaiting_approval" without publishing; ``resume_run`` finishes
it once ``hub.review.approve_run`` has approved it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import CusthubError, RunFailed
from hub.config import HubConfig
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.extract import extract
from hub.pipeline.guards import check_quarantine_share
from hub.pipeline.map import map_system
from hub.pipeline.publish import publish
from hub.pipeline.reconcile import ReconcileResult, reconcile_run
from hub.pipeline.registries import check_registries
from hub.pipeline.report import write_run_report
from hub.pipeline.runs import AWAITING_APPROVAL, finish_run, hold_run, require_status, start_run

APPROVED = "approved"


@dataclass(frozen=True)
class NightlyResult:
    run_id: str
    report: Path
    status: str = "succeeded"
    reconciled: ReconcileResult | None = None


def run_nightly(config: HubConfig, *, dry_run: bool = False, external_id: str | None = None) -> NightlyResult:
    engine = open_store(config)
    run_id = start_run(engine, "nightly", external_id=external_id, dry_run=dry_run)
    ctx = RunContext(config=config, engine=engine, run_id=run_id)
    try:
        for system in config.enabled_systems():
            extract(ctx, system)
            map_system(ctx, system)
        check_quarantine_share(ctx)
        check_registries(ctx)
        return _reconcile_and_publish(ctx)
    except CusthubError as e:  # the run ends failed, with the one-line reason, never left "running"
        finish_run(engine, run_id, "failed", str(e))
        if isinstance(e, RunFailed):
            write_run_report(ctx)
        raise


def resume_run(config: HubConfig, run_id: str) -> NightlyResult:
    """Finish a run a steward approved: reconcile with the guard lifted, then publish."""
    engine = open_store(config)
    require_status(engine, run_id, APPROVED)
    return _reconcile_and_publish(RunContext(config=config, engine=engine, run_id=run_id))


def _reconcile_and_publish(ctx: RunContext) -> NightlyResult:
    result = reconcile_run(ctx)
    if result.held:
        hold_run(ctx.engine, ctx.run_id, result.held)
        return NightlyResult(ctx.run_id, write_run_report(ctx), AWAITING_APPROVAL, result)
    for system in ctx.config.enabled_systems():
        publish(ctx, system)
    finish_run(ctx.engine, ctx.run_id, "succeeded")
    return NightlyResult(ctx.run_id, write_run_report(ctx), "succeeded", result)

