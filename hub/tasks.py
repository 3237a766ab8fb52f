"""The callables Airflow tasks run: one per pipeline step, taking and returning plain values.

DAG files import this module inside their tasks only, so that parsing a DAG stays cheap.
"""

from __future__ import annotations

from datetime import datetime

from hub.config import load_config
from hub.errors import RunFailed
from hub.pipeline import extract as extract_step
from hub.pipeline import guards, publish as publish_step, reconcile as reconcile_step
from hub.pipeline import map as map_step
from hub.pipeline import registries as registries_step
from hub.pipeline.context import context_for, open_store
from hub.pipeline.report import write_run_report
from hub.pipeline.runs import finish_run, start_run


def start(external_id: str, interval_start: datetime | None = None,
          interval_end: datetime | None = None, dry_run: bool = False) -> str:
    engine = open_store(load_config())
    interval = (interval_start, interval_end) if interval_start and interval_end else None
    return start_run(engine, "nightly", external_id=external_id, interval=interval, dry_run=dry_run)


def systems() -> list[str]:
    return load_config().enabled_systems()


def extract(run_id: str, system: str) -> dict[str, int]:
    return extract_step.extract(context_for(run_id), system)


def map_records(run_id: str, system: str) -> dict[str, int]:
    return map_step.map_system(context_for(run_id), system)


def check_quarantine(run_id: str) -> None:
    ctx = context_for(run_id)
    try:
        guards.check_quarantine_share(ctx)
    except RunFailed as e:
        finish_run(ctx.engine, run_id, "failed", str(e))
        write_run_report(ctx)
        raise


def check_registries(run_id: str) -> dict[str, int]:
    return registries_step.check_registries(context_for(run_id))


def reconcile(run_id: str) -> dict[str, int]:
    return reconcile_step.reconcile(context_for(run_id))


def publish(run_id: str, system: str) -> dict[str, int]:
    return publish_step.publish(context_for(run_id), system)


def finish(run_id: str) -> str:
    ctx = context_for(run_id)
    finish_run(ctx.engine, run_id, "succeeded")
    return str(write_run_report(ctx))
