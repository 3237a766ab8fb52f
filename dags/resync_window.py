"""
### resync_window

Manual: re-read chosen systems over a date window and re-run the sync for them, as a dry run
by default. (Not Airflow's Backfill button, which re-runs a scheduled DAG: see the end.)

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

from airflow.sdk import Param, dag

import hub.dag_steps as steps
from hub.orchestration import default_args, start_date


@dag(
    dag_id="resync_window",
    schedule=None,
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["custhub", "resync", "manual"],
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
def resync_window() -> None:
    window = steps.plan_backfill()
    hub_run = steps.start_backfill(window)
    names = steps.backfill_systems(window)
    extracted = steps.extract.partial(hub_run=hub_run).expand(system=names)
    mapped = steps.map_records.partial(hub_run=hub_run).expand(system=names)
    published = steps.publish(hub_run, names)
    listed = steps.would_change(hub_run, window)
    guarded = steps.check_quarantine(hub_run)
    extracted >> mapped >> guarded >> steps.reconcile(hub_run) >> published >> listed
    listed >> steps.finish(hub_run)


dag = resync_window()
