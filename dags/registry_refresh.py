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

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag

import hub.dag_steps as steps
from hub.orchestration import default_args, settings, staged, start_date

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
    hub_run = steps.start("registry_refresh")
    checked = steps.check_registries(hub_run)
    reconciled = steps.reconcile(hub_run)
    published = steps.publish(hub_run, steps.systems())
    checked >> reconciled >> published >> steps.finish(hub_run)


dag = registry_refresh()
