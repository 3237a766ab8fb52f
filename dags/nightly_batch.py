"""
### nightly_batch

The nightly customer sync (`orchestration.schedules.nightly_batch` in hub.yaml): extract every
system (CRM over SOAP, accounting SQL views, ERP files over SFTP), map to the canonical
Customer, check the registries (ARES, VIES, ISIR), reconcile into golden records, publish the
corrections through the outbox and write the report.

- While it runs, **crm_sync** short-circuits its runs; reconcile and publish sit in the
  `custhub_hub_store` pool (1 slot) so that nothing else rewrites the store between them.
- Each registry check runs in its registry's pool (`custhub_ares`, `custhub_vies`,
  `custhub_isir`): their rate limits hold however many DAGs run.
- `dry_run=true` (trigger with config) computes everything and writes nothing back: the
  outbox rows stay pending and the report lists what would change.
- Every task reads its window from the run's data interval, so `airflow backfill create
  --dag-id nightly_batch` works, and re-running a day joins that day's hub run.

Every task calls one function of `hub.tasks`; every step is idempotent. Secrets come from the
Airflow connections named in config/hub.yaml. See docs/operating.md.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, Param, TriggerRule, dag, task

from hub.orchestration import (GOLDEN, REGISTRY_CHECKS, default_args, registry_pools, settings,
                               start_date)

CFG = settings()


@dag(
    dag_id="nightly_batch",
    # Data intervals, not bare trigger times: each run covers [previous slot, this slot).
    schedule=CronDataIntervalTimetable(CFG.schedules["nightly_batch"], timezone=CFG.timezone),
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["custhub", "nightly", "batch"],
    doc_md=__doc__,
    params={"dry_run": Param(False, type="boolean",
                             description="Compute everything, write nothing back to the systems.")},
)
def nightly_batch() -> None:
    @task
    def start(**context) -> str:  # type: ignore[no-untyped-def]
        from hub import tasks

        return tasks.start("nightly", context["dag"].dag_id, context["run_id"],
                           context.get("data_interval_start"), context.get("data_interval_end"),
                           bool(context["params"]["dry_run"]))

    @task
    def systems() -> list[str]:
        from hub import tasks

        return tasks.systems()

    @task
    def extract(hub_run: str, system: str) -> dict[str, int]:
        from hub import tasks

        return tasks.extract(hub_run, system)

    @task
    def map_records(hub_run: str, system: str) -> dict[str, int]:
        from hub import tasks

        return tasks.map_records(hub_run, system)

    @task
    def check_quarantine(hub_run: str) -> None:
        from hub import tasks

        tasks.check_quarantine(hub_run)

    def check_registry(registry: str, pool: str):  # type: ignore[no-untyped-def]
        @task(task_id=f"check_{registry}", pool=pool, outlets=[REGISTRY_CHECKS])
        def check(hub_run: str) -> dict[str, int]:
            from hub import tasks

            return tasks.check_registry(hub_run, registry)

        return check

    @task(pool=CFG.hub_store_pool, outlets=[GOLDEN])
    def reconcile(hub_run: str) -> dict[str, int]:
        from hub import tasks

        return tasks.reconcile(hub_run)

    @task(pool=CFG.hub_store_pool)
    def publish(hub_run: str, system: str) -> dict[str, int]:
        from hub import tasks

        return tasks.publish(hub_run, system)

    # Also after publish skipped because a guard holds the run: its report is what the approver
    # reads, and it stays awaiting approval. A skipped start (a finished run) skips it too.
    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def finish(hub_run: str) -> str:
        from hub import tasks

        return tasks.finish(hub_run)

    # "run_id" is Airflow's own context variable: the hub's run travels as "hub_run".
    hub_run = start()
    names = systems()
    extracted = extract.partial(hub_run=hub_run).expand(system=names)
    mapped = map_records.partial(hub_run=hub_run).expand(system=names)
    guarded = check_quarantine(hub_run)
    checked = [check_registry(name, pool)(hub_run) for name, pool in registry_pools().items()]
    reconciled = reconcile(hub_run)
    published = publish.partial(hub_run=hub_run).expand(system=names)
    extracted >> mapped >> guarded >> checked >> reconciled >> published >> finish(hub_run)


dag = nightly_batch()
