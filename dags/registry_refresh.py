"""
### registry_refresh

Registry evidence for every customer: weekly (`orchestration.schedules.registry_refresh` in
hub.yaml) and whenever crm_sync staged new or changed accounts (the asset `custhub_staged_crm`):
check IČOs in ARES and ISIR and VAT IDs in VIES (the pending-verification queue first; what is
due is decided by `hub.pipeline.registries`), then reconcile, so that a dissolved or insolvent
company or an invalid VAT ID reaches the golden records and the report before the next invoice,
and publish.

- Each registry runs in its own pool (`custhub_ares`, `custhub_vies`, `custhub_isir`): their
  rate limits hold.
- Reconcile and publish sit in the `custhub_hub_store` pool with the other DAGs'.
- Emits `custhub_registry_checks` and `custhub_golden_records`.

See docs/operating.md.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from hub.orchestration import (GOLDEN, REGISTRY_CHECKS, default_args, registry_pools, settings,
                               staged, start_date)

CFG = settings()


@dag(
    dag_id="registry_refresh",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(CFG.schedules["registry_refresh"], timezone=CFG.timezone),
        assets=staged(CFG.crm_sync_system)),
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["custhub", "registries", "weekly"],
    doc_md=__doc__,
)
def registry_refresh() -> None:
    @task
    def start(**context) -> str:  # type: ignore[no-untyped-def]
        from hub import tasks

        return tasks.start("registry_refresh", context["dag"].dag_id, context["run_id"],
                           context.get("data_interval_start"), context.get("data_interval_end"))

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

    @task
    def systems() -> list[str]:
        from hub import tasks

        return tasks.systems()

    @task(pool=CFG.hub_store_pool)
    def publish(hub_run: str, system: str) -> dict[str, int]:
        from hub import tasks

        return tasks.publish(hub_run, system)

    @task
    def finish(hub_run: str) -> str:
        from hub import tasks

        return tasks.finish(hub_run)

    hub_run = start()
    checked = [check_registry(name, pool)(hub_run) for name, pool in registry_pools().items()]
    reconciled = reconcile(hub_run)
    published = publish.partial(hub_run=hub_run).expand(system=systems())
    checked >> reconciled >> published >> finish(hub_run)


dag = registry_refresh()
