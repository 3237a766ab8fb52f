"""
### nightly_batch

The nightly customer sync (`orchestration.schedules.nightly_batch` in hub.yaml): extract every
system (CRM over SOAP, accounting SQL views, ERP files over SFTP), map to the canonical
Customer, check the registries (ARES, VIES, ISIR), reconcile into golden records, publish the
corrections through the outbox and write the report.

- While it runs, **crm_sync** short-circuits its runs; reconcile and publish sit in the
  `custhub_hub_store` pool (1 slot) so that nothing else rewrites the store between them.
- Mapping runs one task per system, or per partition of a system's records
  (`orchestration.partitions.map`), side by side on the workers.
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

from airflow.sdk import CronDataIntervalTimetable, Param, dag

import hub.dag_steps as steps
from hub.orchestration import default_args, settings, start_date

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
    # "run_id" is Airflow's own context variable: the hub's run travels as "hub_run".
    hub_run = steps.start("nightly", honours_dry_run=True)
    names = steps.systems()
    extracted = steps.extract.partial(hub_run=hub_run).expand(system=names)
    # Mapping splits each system into orchestration.partitions.map tasks (one by default).
    mapped = steps.map_records.partial(hub_run=hub_run).expand_kwargs(steps.map_partitions(names))
    guarded = steps.check_quarantine(hub_run)
    checked = steps.check_registries(hub_run)
    reconciled = steps.reconcile(hub_run)
    published = steps.publish(hub_run, names)
    extracted >> mapped >> guarded >> checked >> reconciled >> published >> steps.finish(hub_run)


dag = nightly_batch()
