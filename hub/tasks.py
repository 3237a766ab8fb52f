"""The callables Airflow tasks run: one per pipeline step, taking and returning plain values.

The tasks of hub.dag_steps import this module only when they run, so that parsing a DAG stays
cheap. Each function opens the store for the hub run it is given; the hub run is found (or made)
from the Airflow DAG id and run id, so a retried task, a cleared run or a re-run backfill joins
the run it belongs to instead of starting another.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException
from sqlalchemy import select

from core.errors import ConfigError, CusthubError
from hub.config import HubConfig, load_config
from hub.pipeline import extract as extract_step
from hub.pipeline import guards, publish as publish_step, reconcile as reconcile_step
from hub.pipeline import map as map_step
from hub.pipeline import registries as registries_step
from hub.pipeline.context import RunContext, context_for, open_store
from hub.pipeline.report import write_run_report
from hub.pipeline import isolation
from hub.pipeline.exclusive import exclusive
from hub.pipeline.runs import (ABANDONED, ACTIVE, AWAITING_APPROVAL, SKIPPED, external_run,
                               finish_run, hold_run, new_run_id, run_status, start_run)
from hub.pipeline.timings import timed
from hub.store.db import session_scope
from hub.store.models import Discrepancy, Run

# What an extract counts as news; "unchanged" re-deliveries (overlaps, re-sent files) are not.
CHANGE_COUNTS = ("new", "changed", "rejected")
# A task joins its run's lease while the run works, or carries it on after a failure (a retry).
JOINABLE = (*ACTIVE, "failed", ABANDONED)


def external_id(dag_id: str, airflow_run_id: str) -> str:
    # Airflow run ids are unique per DAG only ("manual__2026-..." in two DAGs at once).
    return f"{dag_id}/{airflow_run_id}"


@contextmanager
def _step(run_id: str) -> Iterator[RunContext]:
    """One task of a hub run, under the run's store lease (joined by run id, from any worker;
    refused with one line while another run holds it). Any exception ends the run failed;
    Airflow's skip does not. A closed run (held, finished) is only read and reported on."""
    ctx = context_for(run_id)
    if run_status(ctx.engine, run_id) not in JOINABLE:
        yield ctx
        return
    with exclusive(ctx, ordinary=(AirflowSkipException,)):
        yield ctx


def start(kind: str, dag_id: str, airflow_run_id: str, interval_start: datetime | None = None,
          interval_end: datetime | None = None, dry_run: bool = False) -> str:
    """The hub run of this Airflow run, its window the run's data interval (never now()).

    A run that already succeeded is final: re-running its Airflow run (a repeated backfill, a
    cleared DAG run) skips instead of re-deciding a past day against today's systems, which
    would rewrite that day's findings. A failed or interrupted run resumes where it stopped.
    The run takes the store's lease here and keeps it until its last task ends it.
    """
    config = load_config()
    engine = open_store(config)
    key = external_id(dag_id, airflow_run_id)
    with session_scope(engine) as session:
        done = session.scalar(select(Run.id).where(Run.external_id == key, Run.status == "succeeded"))
    if done is not None:
        raise AirflowSkipException(f"hub run {done} ({key}) already succeeded; to redo its window "
                                   "with fresh reads, trigger the resync_window DAG")
    interval = (interval_start, interval_end) if interval_start and interval_end else None
    run_id = external_run(engine, key) or new_run_id()
    with exclusive(RunContext(config, engine, run_id), ordinary=(AirflowSkipException,)):
        return start_run(engine, kind, external_id=key, interval=interval, dry_run=dry_run,
                         run_id=run_id)


def systems() -> list[str]:
    return load_config().enabled_systems()


def extract(run_id: str, system: str) -> dict[str, int]:
    """Extract one system; a failure of its own leaves it out of the run (or holds the run, as
    its on_failure says) instead of failing the others (hub.pipeline.isolation)."""
    with _step(run_id) as ctx:
        return _isolated(ctx, system, "extract", extract_step.extract)


def _isolated(ctx: RunContext, system: str, name: str | None,
              step: Callable[[RunContext, str], dict[str, int]]) -> dict[str, int]:
    """``name``: the step's timed name; None for a step that keeps its own time (a partition)."""
    if system in isolation.excluded(ctx):
        return {SKIPPED: 1}
    try:
        if name is None:
            return step(ctx, system)
        with timed(ctx, name, system):  # the step's time among the run's figures, as the CLI's
            return step(ctx, system)
    except CusthubError as e:
        if not isolation.isolable(e):
            raise
        isolation.isolate_error(ctx, system, e)
        return {SKIPPED: 1}


def extract_or_skip(run_id: str, system: str) -> dict[str, int]:
    """Extract; when nothing new was staged, close the hub run and skip the rest of the DAG run."""
    with _step(run_id) as ctx:
        with timed(ctx, "extract", system):
            counts = extract_step.extract(ctx, system)
        if not any(counts.get(name) for name in CHANGE_COUNTS):
            finish_run(ctx.engine, run_id, "succeeded", f"nothing changed in {system}")
            raise AirflowSkipException(f"{system}: nothing new since the last sync")
        return counts


def map_partitions(systems: list[str]) -> list[dict[str, Any]]:
    """The map tasks of a run: each system's partitions (``orchestration.partitions.map``),
    as the keyword arguments of one ``map_records`` each, read when the run maps."""
    count = load_config().orchestration.partitions.map
    return [{"system": system, "partition": index, "partitions": count}
            for system in systems for index in range(count)]


def map_records(run_id: str, system: str, partition: int = 0, partitions: int = 1) -> dict[str, int]:
    """Map one system, or one partition of it; its figures add up in ``check_quarantine``."""
    with _step(run_id) as ctx:
        if partitions == 1:
            return _isolated(ctx, system, "map", map_step.map_system)
        part = map_step.Partition(partition, partitions)
        return _isolated(ctx, system, None, lambda c, s: map_step.map_partition(c, s, part))


def check_quarantine(run_id: str) -> None:
    """Leave out (or hold the run for) each system whose quarantined share is too high. First,
    as the first task after every map partition has ended, add up each system's map figures."""
    with _step(run_id) as ctx:
        map_step.add_up_partitions(ctx, ctx.config.orchestration.partitions.map)
        left_out = isolation.excluded(ctx)
        for system, reason in guards.quarantine_overruns(ctx).items():
            if system not in left_out:
                isolation.isolate(ctx, system, reason)
        if held := isolation.hold_reason(ctx):
            hold_run(ctx.engine, run_id, held)
            write_run_report(ctx)


def check_registry(run_id: str, registry: str) -> dict[str, int]:
    """Check one registry, so that each runs in its own Airflow pool (its own rate limit)."""
    with _step(run_id) as ctx:
        _skip_if_held(ctx)
        only = ctx.config.model_copy(update={"registries": {registry: ctx.config.registries[registry]}})
        with timed(ctx, "registries", registry):
            return registries_step.check_registries(RunContext(only, ctx.engine, run_id))


def reconcile(run_id: str) -> dict[str, int]:
    with _step(run_id) as ctx:
        _skip_if_held(ctx)
        with timed(ctx, "reconcile"):
            return reconcile_step.reconcile(isolation.for_reconcile(ctx))


def publish(run_id: str, system: str) -> dict[str, int]:
    """Send one system's corrections. A run a guard holds skips: Airflow shows that nothing was
    published, and ``custhub approve RUN`` publishes it later. A system left out of the run
    is sent nothing."""
    with _step(run_id) as ctx:
        _skip_if_held(ctx)
        if system in isolation.excluded(ctx):
            return {SKIPPED: 1}
        with timed(ctx, "publish", system):
            return publish_step.publish(ctx, system)


def _skip_if_held(ctx: RunContext) -> None:
    if run_status(ctx.engine, ctx.run_id) == AWAITING_APPROVAL:
        raise AirflowSkipException(f"hub run {ctx.run_id} waits for approval: "
                                   f"custhub approve {ctx.run_id}")


def finish(run_id: str) -> str:
    """Close the run, write its report and release the store's lease; a held run stays
    awaiting approval (finish_run keeps it).

    The DAGs run this even when publish skipped (a held run's report is what the approver
    reads); a run an earlier task already closed (crm_sync found nothing new) is left as it is.
    """
    with _step(run_id) as ctx:
        if run_status(ctx.engine, run_id) == "succeeded":
            raise AirflowSkipException(f"hub run {run_id} was already closed")
        finish_run(ctx.engine, run_id, "succeeded")
        with timed(ctx, "report"):
            return str(write_run_report(ctx))


# -- backfill ---------------------------------------------------------------------------------

def plan_backfill(params: dict[str, Any]) -> dict[str, Any]:
    """Check what the JSON schema of the params cannot: known systems, an ordered, bounded window.

    Returns the plan the other tasks follow: systems, window [start, end + 1 day), dry_run.
    """
    config = load_config()
    chosen = list(params.get("systems") or config.enabled_systems())
    unknown = sorted(set(chosen) - set(config.enabled_systems()))
    start, end = date.fromisoformat(params["start"]), date.fromisoformat(params["end"])
    problems = [f"unknown or disabled systems {unknown}"] if unknown else []
    if end < start:
        problems.append(f"end {end} is before start {start}")
    if (end - start).days + 1 > config.orchestration.backfill_max_days:
        problems.append(f"window of {(end - start).days + 1} days exceeds backfill_max_days "
                        f"{config.orchestration.backfill_max_days}")
    if problems:
        raise ConfigError("backfill params: " + "; ".join(problems))
    return {"systems": chosen, "start": start.isoformat(),
            "end": (end + timedelta(days=1)).isoformat(), "dry_run": bool(params.get("dry_run"))}


def start_backfill(dag_id: str, airflow_run_id: str, plan: dict[str, Any]) -> str:
    """The backfill's hub run, its interval the planned window (midnight UTC to midnight UTC)."""
    start_at = datetime.fromisoformat(plan["start"]).replace(tzinfo=UTC)
    end_at = datetime.fromisoformat(plan["end"]).replace(tzinfo=UTC)
    return start("backfill", dag_id, airflow_run_id, start_at, end_at, plan["dry_run"])


def would_change(run_id: str, systems: list[str]) -> dict[str, Any]:
    """The records and fields the run would write back: its corrected discrepancies, as a CSV."""
    ctx = context_for(run_id)
    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(Discrepancy).where(
            Discrepancy.run_id == run_id, Discrepancy.corrected.is_(True),
            Discrepancy.system.in_(systems)).order_by(
            Discrepancy.system, Discrepancy.record_id, Discrepancy.field)).all()
        lines = [(d.system, d.record_id, d.field, d.system_value, d.golden_value, d.source, d.rule)
                 for d in rows]
    path = _would_change_csv(ctx.config, run_id, lines)
    return {"changes": len(lines), "records": len({(s, r) for s, r, *_ in lines}), "csv": str(path)}


def _would_change_csv(config: HubConfig, run_id: str, lines: list[tuple]) -> Path:
    path = Path(config.report_dir) / run_id / "would_change.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["system", "record_id", "field", "system_value", "golden_value", "source", "rule"])
        writer.writerows(lines)
    return path
