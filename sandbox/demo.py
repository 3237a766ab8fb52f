"""`make demo`: start the sandbox estate, run the nightly_batch DAG through Airflow, show the summary.

The first demo runs two nights: the second after a day of people's edits that leave a data
steward work (a conflict and a match candidate, sandbox/steward_work.py; the generator's two
unreadable records are quarantined on the first night). `make demo-review` opens the review page
on the demo's store. Run the demo again: that night meets the estate the first ones corrected,
and says that nothing changed. `make demo-reset` starts over with a freshly generated estate.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from sandbox.estate import SandboxEstate

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / ".demo"
console = Console()


def _prepare_environment() -> None:
    os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("CUSTHUB_STORE_URL", f"sqlite:///{DEMO_DIR / 'hub.db'}")
    os.environ.setdefault("CUSTHUB_CONFIG", str(ROOT / "config" / "hub.yaml"))
    from hub.cli_output import quiet_deprecations

    quiet_deprecations()  # libraries' notes to their developers, not to a person trying the demo


def _migrate_airflow() -> None:
    airflow = Path(sys.executable).parent / "airflow"
    done = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True)
    if done.returncode != 0:
        console.print(done.stdout[-2000:], done.stderr[-2000:])
        raise SystemExit("airflow db migrate failed")


def _load_dag(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"dags.{name}", ROOT / "dags" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def run_demo() -> int:
    _prepare_environment()
    from sandbox.estate import SandboxEstate

    console.rule("custhub demo: starting the sandbox estate")
    fresh = not (DEMO_DIR / "estate" / "seeded").exists()
    with SandboxEstate(DEMO_DIR / "estate") as estate:
        estate.export_connections()
        console.print("CRM (SOAP), VIES, ARES, ISIR, ERP (SFTP) on loopback; accounting on SQLite.")
        _migrate_airflow()
        states = demo_nights(estate, fresh, _dag_night, _summary)
    if any(state != "success" for state, _ in states):
        console.print(f"[red]The DAG run ended {states[-1][0]}.[/red]")
        return 1
    console.print(f"Waiting for a data steward: {_steward_work()}. "
                  "[bold]make demo-review[/bold] opens the review page on this store.")
    return 0


Night = Callable[[], tuple[str, str]]


def demo_nights(estate: SandboxEstate, fresh: bool, night: Night,
                summary: Callable[[str], None] = lambda run_id: None) -> list[tuple[str, str]]:
    """The nights `make demo` runs, each ``night()`` giving (state, hub run id), ``summary``
    shown after each that succeeded. A fresh estate gets two, and between them a day's edits
    that leave a steward work (sandbox.steward_work): a conflict needs a golden record from
    before. Later demos run one night over what is there."""
    from sandbox.steward_work import steward_day

    nights = [_night_and_imports(estate, night, summary, "Night 1" if fresh else None)]
    if not fresh or nights[-1][0] != "success":
        return nights
    console.rule("During the day: people at work in their systems")
    for line in steward_day(estate).lines():
        console.print(f"- {line}")
    nights.append(_night_and_imports(estate, night, summary, "Night 2"))
    return nights


def _night_and_imports(estate: SandboxEstate, night: Night, summary: Callable[[str], None],
                       title: str | None) -> tuple[str, str]:
    console.rule(f"{title + ': r' if title else 'R'}unning the nightly_batch DAG through Airflow (dag.test)")
    state, run_id = night()
    applied = estate.process_inbound()
    console.print(f"Systems' own import jobs applied: {applied}")
    if state == "success":
        summary(run_id)
    return state, run_id


def _dag_night() -> tuple[str, str]:
    """One nightly_batch run through Airflow: the DAG run's state and the hub's run id."""
    from hub.config import load_config
    from hub.tasks import external_id

    dag_run = _load_dag("nightly_batch").test()
    return str(dag_run.state), _hub_run_id(load_config(), external_id("nightly_batch", dag_run.run_id))


def _summary(run_id: str) -> None:
    from hub.config import load_config
    from hub.pipeline.context import RunContext, open_store
    from hub.pipeline.report import build_report
    from hub.summary import print_summary

    config = load_config()
    ctx = RunContext(config=config, engine=open_store(config), run_id=run_id)
    print_summary(build_report(ctx), Path(config.report_dir) / ctx.run_id / "report.html", console,
                  review="make demo-review")


def _steward_work() -> str:
    """The open review items by kind and the open quarantine, in words."""
    from sqlalchemy import func, select

    from hub.config import load_config
    from hub.pipeline.context import open_store
    from hub.store.db import session_scope
    from hub.store.models import Quarantine, ReviewItem

    with session_scope(open_store(load_config())) as session:
        kinds = dict(session.execute(select(ReviewItem.kind, func.count()).where(
            ReviewItem.status == "open").group_by(ReviewItem.kind)).all())
        quarantined = session.scalar(select(func.count()).select_from(Quarantine).where(
            Quarantine.resolved_at.is_(None)))
    found = [f"{n} {kind.replace('_', ' ')}(s)" for kind, n in sorted(kinds.items())]
    return ", ".join([*found, f"{quarantined} quarantined record(s)"])


def _hub_run_id(config, external_id: str) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from hub.pipeline.context import open_store
    from hub.store.db import session_scope
    from hub.store.models import Run

    with session_scope(open_store(config)) as session:
        return session.scalar(select(Run.id).where(Run.external_id == external_id))


if __name__ == "__main__":
    sys.exit(run_demo())
