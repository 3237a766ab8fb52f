"""The TaskFlow tasks the DAG files wire: each written once, each calling one function of hub.tasks.

A task defined at module level is reusable across DAGs: calling it inside a DAG context creates
the operator, and ``.override(task_id=..., outlets=...)`` gives a DAG its variation. Like
hub.orchestration this module is cheap to import at parse time: hub.tasks (and with it the store,
the connectors and the pipeline) is imported inside each task, when it runs.

The steps that sit in a pool (reconcile, publish, the registry checks) are wired by functions
rather than used as bare tasks: their pools come from hub.yaml, read when the DAG file is parsed,
as everything else a DAG file declares, not when this module was first imported.

"run_id" is Airflow's own context variable: the hub's run travels between tasks as "hub_run".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from airflow.sdk import PokeReturnValue, TriggerRule, XComArg, task

from hub.orchestration import GOLDEN, NIGHTLY_DAG_ID, REGISTRY_CHECKS, registry_pools, settings

log = logging.getLogger(__name__)

# -- a run's start and end ----------------------------------------------------------------------


def _started(start_run: Callable[[], str]) -> PokeReturnValue:
    """Done with the hub run's id, or not yet while another run holds the store."""
    from hub.pipeline.lease import RunLocked

    try:
        return PokeReturnValue(is_done=True, xcom_value=start_run())
    except RunLocked as busy:
        log.info("waiting for the hub store: %s", busy)
        return PokeReturnValue(is_done=False)


# A run whose hub store another run holds waits at its start, its worker slot given back between
# looks (a sensor in reschedule mode), instead of failing: `airflow backfill create` starts its
# nights together (Airflow applies the backfill's own --max-active-runs, 10 by default, not the
# DAG's max_active_runs=1), and the store takes one run at a time (hub.pipeline.lease).
def _waiting(step: Any, **overrides: Any) -> Any:
    wait = settings().store_wait
    return step.override(mode="reschedule", poke_interval=wait.poke_seconds,
                         timeout=wait.timeout_minutes * 60, **overrides)


def start(kind: str, honours_dry_run: bool = False) -> XComArg:
    """The run's first task: its hub run, waiting while another run holds the store."""
    return _waiting(_start, task_id="start")(kind, honours_dry_run)


@task.sensor
def _start(kind: str, honours_dry_run: bool = False, **context: Any) -> PokeReturnValue:
    """The hub run of this Airflow run, its window the data interval; a DAG that declares a
    ``dry_run`` param (nightly_batch) passes ``honours_dry_run=True``."""
    from hub import tasks

    dry_run = bool(context["params"]["dry_run"]) if honours_dry_run else False
    return _started(lambda: tasks.start(kind, context["dag"].dag_id, context["run_id"],
                                        context.get("data_interval_start"),
                                        context.get("data_interval_end"), dry_run))


# Also after publish skipped because a guard holds the run: its report is what the approver
# reads, and it stays awaiting approval. A skipped start (a finished run) skips it too.
@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
def finish(hub_run: str) -> str:
    from hub import tasks

    return tasks.finish(hub_run)


@task.short_circuit
def nightly_not_running(**context: Any) -> bool:
    """False (skip the rest of the run) while the nightly batch runs; crm_sync's first task."""
    # Airflow's own view of the nightly run, through the Task SDK (no metadata DB access).
    return context["ti"].get_dr_count(dag_id=NIGHTLY_DAG_ID, states=["running"]) == 0


# -- per system ---------------------------------------------------------------------------------


@task
def systems() -> list[str]:
    from hub import tasks

    return tasks.systems()


@task
def extract(hub_run: str, system: str) -> dict[str, int]:
    from hub import tasks

    return tasks.extract(hub_run, system)


@task
def extract_or_skip(hub_run: str, system: str) -> dict[str, int]:
    """Extract; nothing new closes the hub run and skips the rest of the DAG run (crm_sync)."""
    from hub import tasks

    return tasks.extract_or_skip(hub_run, system)


@task
def map_partitions(systems: list[str]) -> list[dict[str, Any]]:
    """(system, partition) pairs for ``map_records.expand_kwargs``: the partition count is read
    when the run maps, so changing it in hub.yaml needs no DAG change."""
    from hub import tasks

    return tasks.map_partitions(systems)


@task
def map_records(hub_run: str, system: str, partition: int = 0, partitions: int = 1) -> dict[str, int]:
    from hub import tasks

    return tasks.map_records(hub_run, system, partition, partitions)


@task
def check_quarantine(hub_run: str) -> None:
    from hub import tasks

    tasks.check_quarantine(hub_run)


# -- the steps that run in a pool ---------------------------------------------------------------


@task(outlets=[REGISTRY_CHECKS])
def _check_registry(hub_run: str, registry: str) -> dict[str, int]:
    from hub import tasks

    return tasks.check_registry(hub_run, registry)


@task(task_id="reconcile", outlets=[GOLDEN])
def _reconcile(hub_run: str) -> dict[str, int]:
    from hub import tasks

    return tasks.reconcile(hub_run)


@task(task_id="publish")
def _publish(hub_run: str, system: str) -> dict[str, int]:
    from hub import tasks

    return tasks.publish(hub_run, system)


def check_registries(hub_run: XComArg) -> list[XComArg]:
    """One ``check_<registry>`` task per enabled registry, each in its registry's pool."""
    return [_check_registry.override(task_id=f"check_{name}", pool=pool)(hub_run, name)
            for name, pool in registry_pools().items()]


def reconcile(hub_run: XComArg) -> XComArg:
    """Recompute the golden records (emits the golden-records asset), in the hub-store pool."""
    return _reconcile.override(pool=settings().hub_store_pool)(hub_run)


def publish(hub_run: XComArg, names: XComArg) -> XComArg:
    """One mapped ``publish`` per system in ``names``, in the hub-store pool."""
    step = _publish.override(pool=settings().hub_store_pool)
    return step.partial(hub_run=hub_run).expand(system=names)


# -- backfill -----------------------------------------------------------------------------------


@task(task_id="plan")
def plan_backfill(**context: Any) -> dict:
    from hub import tasks

    return tasks.plan_backfill(dict(context["params"]))


def start_backfill(window: XComArg) -> XComArg:
    """resync_window's start: the hub run of its planned window, waiting as ``start`` does."""
    return _waiting(_start_backfill, task_id="start")(window)


@task.sensor
def _start_backfill(window: dict, **context: Any) -> PokeReturnValue:
    from hub import tasks

    return _started(lambda: tasks.start_backfill(context["dag"].dag_id, context["run_id"], window))


@task(task_id="systems")
def backfill_systems(window: dict) -> list[str]:
    return list(window["systems"])  # mapping needs a task's own return value


@task
def would_change(hub_run: str, window: dict) -> dict:
    from hub import tasks

    return tasks.would_change(hub_run, window["systems"])
