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

    @task
    def check_registries(hub_run: str) -> dict[str, int]:
        from hub import tasks

        return tasks.check_registries(hub_run)

    @task
    def reconcile(hub_run: str) -> dict[str, int]:
        from hub import tasks

        return tasks.reconcile(hub_run)

    @task
    def publish(hub_run: str, system: str) -> dict[str, int]:
        from hub import tasks

        return tasks.publish(hub_run, system)

    @task
    def finish(hub_run: str) -> str:
        from hub import tasks

        return tasks.finish(hub_run)

    # "run_id" is Airflow's own context variable: the hub's run travels as "hub_run".
    hub_run = start()
    names = systems()
    extracted = extract.partial(hub_run=hub_run).expand(system=names)
    mapped = map_records.partial(hub_run=hub_run).expand(system=names)
    guarded = check_quarantine(hub_run)
    checked = check_registries(hub_run)
    reconciled = reconcile(hub_run)
    published = publish.partial(hub_run=hub_run).expand(system=names)
    extracted >> mapped >> guarded >> checked >> reconciled >> published >> finish(hub_run)


dag = nightly_batch()
