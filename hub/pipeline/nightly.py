"""The nightly batch as one call: the same steps, in the same order, that the nightly_batch DAG wires."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hub.config import HubConfig
from hub.errors import RunFailed
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.extract import extract
from hub.pipeline.guards import check_quarantine_share
from hub.pipeline.map import map_system
from hub.pipeline.publish import publish
from hub.pipeline.reconcile import reconcile
from hub.pipeline.registries import check_registries
from hub.pipeline.report import write_run_report
from hub.pipeline.runs import finish_run, start_run


@dataclass(frozen=True)
class NightlyResult:
    run_id: str
    report: Path


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
        reconcile(ctx)
        for system in config.enabled_systems():
            publish(ctx, system)
    except RunFailed as e:
        finish_run(engine, run_id, "failed", str(e))
        write_run_report(ctx)
        raise
    finish_run(engine, run_id, "succeeded")
    return NightlyResult(run_id=run_id, report=write_run_report(ctx))
