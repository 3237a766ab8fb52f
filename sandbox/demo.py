"""`make demo`: start the sandbox estate, run the nightly_batch DAG through Airflow, show the summary.

Run it twice: the second run meets the estate the first one corrected, and says that nothing
changed. `make demo-reset` starts over with a freshly generated estate.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

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
    from hub.config import load_config
    from hub.pipeline.context import RunContext, open_store
    from hub.pipeline.report import build_report
    from hub.summary import print_summary
    from sandbox.estate import SandboxEstate

    console.rule("custhub demo: starting the sandbox estate")
    with SandboxEstate(DEMO_DIR / "estate") as estate:
        estate.export_connections()
        console.print("CRM (SOAP), VIES, ARES, ISIR, ERP (SFTP) on loopback; accounting on SQLite.")
        _migrate_airflow()
        console.rule("Running the nightly_batch DAG through Airflow (dag.test)")
        dag_run = _load_dag("nightly_batch").test()
        applied = estate.process_inbound()
        console.print(f"Systems' own import jobs applied: {applied}")
    if str(dag_run.state) != "success":
        console.print(f"[red]The DAG run ended {dag_run.state}.[/red]")
        return 1
    config = load_config()
    from hub.tasks import external_id

    hub_run = _hub_run_id(config, external_id("nightly_batch", dag_run.run_id))
    ctx = RunContext(config=config, engine=open_store(config), run_id=hub_run)
    report = build_report(ctx)
    print_summary(report, Path(config.report_dir) / ctx.run_id / "report.html", console)
    return 0


def _hub_run_id(config, external_id: str) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from hub.pipeline.context import open_store
    from hub.store.db import session_scope
    from hub.store.models import Run

    with session_scope(open_store(config)) as session:
        return session.scalar(select(Run.id).where(Run.external_id == external_id))


if __name__ == "__main__":
    sys.exit(run_demo())
