"""
### nightly_batch

The nightly customer sync: extract every system (CRM over SOAP, accounting SQL views, ERP
files over SFTP), map to the canonical Customer, check the registries (ARES, VIES),
reconcile into golden records, publish corrections through the outbox, write the report.

Every task calls one function of `hub.tasks`; every step is idempotent, so a retried task
or a re-run of the same DAG run changes nothing twice. Secrets come from the Airflow
connections named in config/hub.yaml.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

DEFAULT_ARGS = {
    "owner": "custhub",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=20),
}


@dag(
    dag_id="nightly_batch",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Prague"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["custhub", "nightly"],
    doc_md=__doc__,
    params={"dry_run": False},
)
def nightly_batch() -> None:
    @task
    def start(**context) -> str:  # type: ignore[no-untyped-def]
        from hub import tasks

        return tasks.start(context["run_id"], context.get("data_interval_start"),
                           context.get("data_interval_end"), bool(context["params"]["dry_run"]))

    @task
    def systems() -> list[str]:
        from hub import tasks

        return tasks.systems()

    @task
    def extract(run_id: str, system: str) -> dict[str, int]:
        from hub import tasks

        return tasks.extract(run_id, system)

    @task
    def map_records(run_id: str, system: str) -> dict[str, int]:
        from hub import tasks

        return tasks.map_records(run_id, system)

    @task
    def check_quarantine(run_id: str) -> None:
        from hub import tasks

        tasks.check_quarantine(run_id)

    @task
    def check_registries(run_id: str) -> dict[str, int]:
        from hub import tasks

        return tasks.check_registries(run_id)

    @task
    def reconcile(run_id: str) -> dict[str, int]:
        from hub import tasks

        return tasks.reconcile(run_id)

    @task
    def publish(run_id: str, system: str) -> dict[str, int]:
        from hub import tasks

        return tasks.publish(run_id, system)

    @task
    def finish(run_id: str) -> str:
        from hub import tasks

        return tasks.finish(run_id)

    run_id = start()
    names = systems()
    extracted = extract.partial(run_id=run_id).expand(system=names)
    mapped = map_records.partial(run_id=run_id).expand(system=names)
    guarded = check_quarantine(run_id)
    checked = check_registries(run_id)
    reconciled = reconcile(run_id)
    published = publish.partial(run_id=run_id).expand(system=names)
    extracted >> mapped >> guarded >> checked >> reconciled >> published >> finish(run_id)


nightly_batch()
