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

from airflow.sdk import CronDataIntervalTimetable, dag

import hub.dag_steps as steps
from hub.orchestration import default_args, settings, staged, start_date

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
    # "run_id" is Airflow's own context variable: the hub's run travels as "hub_run".
    hub_run = steps.start("crm_sync")
    names = steps.systems()
    steps.nightly_not_running() >> hub_run >> names
    extracted = steps.extract_or_skip.override(task_id="extract", outlets=[staged(SYSTEM)])(
        hub_run, SYSTEM)
    reconciled = extracted >> steps.map_records(hub_run, SYSTEM) >> steps.reconcile(hub_run)
    reconciled >> steps.publish(hub_run, names) >> steps.finish(hub_run)


dag = crm_sync()
