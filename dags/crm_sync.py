"""
### crm_sync

The CRM's online exchange, every 15 minutes (`orchestration.schedules.crm_sync` in hub.yaml):
read the CRM accounts modified since the stored cursor (SOAP), map them, match them into the
golden records and publish the corrections through the outbox.

- **Nothing changed**: the extract task is *skipped* and so is the rest of the run; the hub run
  is closed with "nothing changed".
- **Nightly batch running**: the first task short-circuits the run; the next slot picks up
  everything from the cursor, so nothing is lost. Reconcile and publish also sit in the
  `custhub_hub_store` pool (1 slot), which serializes them with every other DAG's.
- **Emits** the asset `custhub_staged_crm` when the CRM brought news (registry_refresh checks
  new VAT IDs and IČOs on it) and `custhub_golden_records` after reconciling.

One run at a time (`max_active_runs=1`); each task retries with exponential backoff and
alerts when it fails for good. See docs/operating.md.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, TriggerRule, dag, task

from hub.orchestration import GOLDEN, NIGHTLY_DAG_ID, default_args, settings, staged, start_date

CFG = settings()
SYSTEM = CFG.crm_sync_system


@dag(
    dag_id="crm_sync",
    # Data intervals, not bare trigger times: each run covers [previous slot, this slot).
    schedule=CronDataIntervalTimetable(CFG.schedules["crm_sync"], timezone=CFG.timezone),
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["custhub", "crm", "incremental"],
    doc_md=__doc__,
)
def crm_sync() -> None:
    @task.short_circuit
    def nightly_not_running(**context) -> bool:  # type: ignore[no-untyped-def]
        # Airflow's own view of the nightly run, through the Task SDK (no metadata DB access).
        return context["ti"].get_dr_count(dag_id=NIGHTLY_DAG_ID, states=["running"]) == 0

    @task
    def start(**context) -> str:  # type: ignore[no-untyped-def]
        from hub import tasks

        return tasks.start("crm_sync", context["dag"].dag_id, context["run_id"],
                           context.get("data_interval_start"), context.get("data_interval_end"))

    @task(outlets=[staged(SYSTEM)])
    def extract(hub_run: str) -> dict[str, int]:
        from hub import tasks

        return tasks.extract_or_skip(hub_run, SYSTEM)

    @task
    def map_records(hub_run: str) -> dict[str, int]:
        from hub import tasks

        return tasks.map_records(hub_run, SYSTEM)

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

    # Also after publish skipped because a guard holds the run: its report is what the approver
    # reads, and it stays awaiting approval. A skipped start (a finished run) skips it too.
    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def finish(hub_run: str) -> str:
        from hub import tasks

        return tasks.finish(hub_run)

    # "run_id" is Airflow's own context variable: the hub's run travels as "hub_run".
    hub_run = start()
    names = systems()
    nightly_not_running() >> hub_run >> names
    reconciled = extract(hub_run) >> map_records(hub_run) >> reconcile(hub_run)
    published = publish.partial(hub_run=hub_run).expand(system=names)
    reconciled >> published >> finish(hub_run)


dag = crm_sync()
