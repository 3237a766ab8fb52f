"""
### backfill

Manual: re-run the sync for chosen systems over a date window, as a dry run by default.

Trigger with config (the form validates it against the params' JSON schema):

| param | meaning |
| --- | --- |
| `systems` | the systems to re-read and write back to, e.g. `["accounting", "erp"]` |
| `start`, `end` | the window, inclusive dates (`YYYY-MM-DD`), at most `backfill_max_days` |
| `dry_run` | `true` (default): compute everything, write nothing back |

The run re-reads the chosen systems, maps them, reconciles the whole hub (golden records
depend on every system), and publishes to the chosen systems only. A **dry run** sends nothing:
the outbox rows stay pending and `would_change.csv` next to the run's report lists every record
and field that a real run would change (system, record, field, current value, golden value,
the source and rule that decided).

To backfill the *scheduled* nightly sync instead, use Airflow's own backfill: `airflow backfill
create --dag-id nightly_batch --from-date ... --to-date ...` (its tasks read the window from the
data interval). See docs/operating.md.
"""

from __future__ import annotations

from airflow.sdk import Param, TriggerRule, dag, task

from hub.orchestration import GOLDEN, default_args, settings, start_date

CFG = settings()


@dag(
    dag_id="backfill",
    schedule=None,
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["custhub", "backfill", "manual"],
    doc_md=__doc__,
    params={
        "systems": Param(None, type=["null", "array"],
                         items={"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
                         minItems=1, uniqueItems=True,
                         description="Systems to re-read and write back to (empty: all enabled)."),
        "start": Param(type="string", format="date", description="First day of the window."),
        "end": Param(type="string", format="date", description="Last day of the window (inclusive)."),
        "dry_run": Param(True, type="boolean", description="Write nothing back; list what would change."),
    },
)
def backfill() -> None:
    @task
    def plan(**context) -> dict:  # type: ignore[no-untyped-def]
        from hub import tasks

        return tasks.plan_backfill(dict(context["params"]))

    @task
    def start(window: dict, **context) -> str:  # type: ignore[no-untyped-def]
        from hub import tasks

        return tasks.start_backfill(context["dag"].dag_id, context["run_id"], window)

    @task
    def systems(window: dict) -> list[str]:
        return list(window["systems"])  # mapping needs a task's own return value

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

    @task(pool=CFG.hub_store_pool, outlets=[GOLDEN])
    def reconcile(hub_run: str) -> dict[str, int]:
        from hub import tasks

        return tasks.reconcile(hub_run)

    @task(pool=CFG.hub_store_pool)
    def publish(hub_run: str, system: str) -> dict[str, int]:
        from hub import tasks

        return tasks.publish(hub_run, system)

    @task
    def would_change(hub_run: str, window: dict) -> dict:
        from hub import tasks

        return tasks.would_change(hub_run, window["systems"])

    # Also after publish skipped because a guard holds the run: its report is what the approver
    # reads, and it stays awaiting approval. A skipped start (a finished run) skips it too.
    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def finish(hub_run: str) -> str:
        from hub import tasks

        return tasks.finish(hub_run)

    window = plan()
    hub_run = start(window)
    names = systems(window)
    extracted = extract.partial(hub_run=hub_run).expand(system=names)
    mapped = map_records.partial(hub_run=hub_run).expand(system=names)
    published = publish.partial(hub_run=hub_run).expand(system=names)
    listed = would_change(hub_run, window)
    extracted >> mapped >> check_quarantine(hub_run) >> reconcile(hub_run) >> published >> listed
    listed >> finish(hub_run)


dag = backfill()
