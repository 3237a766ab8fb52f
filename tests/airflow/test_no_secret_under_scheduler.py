"""No raw secret in any log under Airflow's real scheduler, DEBUG included.

`airflow standalone` is started as `make airflow` starts it (sandbox.airflow_setup: SQLite, the
DAGs, hub.yaml's pools, the estate's connections stored in Airflow's database), but in a
temporary AIRFLOW_HOME, at DEBUG, with marker secrets on every connection. nightly_batch is
unpaused and its scheduled run created and run by the scheduler (each task a process of the executor, its connections fetched
through the execution API); then every file under that AIRFLOW_HOME, everything the processes
printed, Airflow's database (but its connection table), the reports and the hub store are
searched for the markers. tests/e2e/test_no_secret_in_logs.py does the same for the CLI and for
`airflow dags test`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sandbox import airflow_setup
from tests.e2e.test_no_secret_in_logs import Secrets, _files, _found, _store_text, marked  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAG_ID = "nightly_batch"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _airflow_env(env: dict[str, str], home: Path, port: int) -> dict[str, str]:
    """The marked environment without its AIRFLOW_CONN_* (the connections live in Airflow's
    database, as under `make airflow`), pointed at a private AIRFLOW_HOME and port."""
    env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # Only the DAG the test unpauses runs: no other starts its schedule by itself.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    })
    return env


@pytest.fixture
def scheduler(marked, tmp_path: Path) -> Iterator[tuple[Secrets, dict[str, str], Path, subprocess.Popen[bytes]]]:  # noqa: F811
    """Airflow standalone up and healthy in tmp_path/airflow-home; stopped, whole process
    group, whatever the test's outcome."""
    marks, env = marked
    connections = {k.removeprefix("AIRFLOW_CONN_").lower(): json.loads(v)
                   for k, v in env.items() if k.startswith("AIRFLOW_CONN_")}
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = _airflow_env(env, home, _free_port())
    (tmp_path / "connections.json").write_text(json.dumps(connections))
    _run([sys.executable, "-c", "import json, sys; from sandbox.airflow_setup import prepare; "
          "prepare(json.load(open(sys.argv[1])))", str(tmp_path / "connections.json")],
         env, tmp_path / "prepare.out")
    (tmp_path / "connections.json").unlink()  # the markers' only copy outside Airflow's db
    process = airflow_setup.start_standalone(env, tmp_path / "standalone.out")
    try:
        assert airflow_setup.healthy(process, int(env["AIRFLOW__API__PORT"]), timeout=150), \
            (tmp_path / "standalone.out").read_text(errors="replace")[-3000:]
        yield marks, env, home, process
    finally:
        airflow_setup.stop(process)


def _run(command: list[str], env: dict[str, str], out: Path) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    with out.open("a") as sink:
        sink.write(done.stdout + "\n" + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout + done.stderr


def _query(home: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(home / "airflow.db", timeout=30) as db:
        return db.execute(sql, params).fetchall()


def _wait(what: str, timeout: float, check) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := check()):
            return found
        time.sleep(2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def _airflow_db_text(home: Path) -> str:
    """Every row of Airflow's database but its connection table (where the secrets belong)."""
    engine = sa.create_engine(f"sqlite:///{home / 'airflow.db'}")
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as c:
            return "\n".join(str(row) for table in meta.sorted_tables if table.name != "connection"
                             for row in c.execute(sa.select(table)))
    finally:
        engine.dispose()


def test_a_scheduled_run_at_debug_logs_and_stores_no_secret(scheduler, tmp_path: Path) -> None:
    marks, env, home, process = scheduler
    started = time.monotonic()
    _wait("the DAG processor stores nightly_batch", 90,
          lambda: _query(home, "SELECT 1 FROM dag WHERE dag_id = ?", DAG_ID))
    # Unpaused, the scheduler creates the run of the latest slot itself (catchup is off): a
    # scheduled run, queued and executed by the scheduler, nothing triggered by hand.
    _run([str(BIN / "airflow"), "dags", "unpause", DAG_ID], env, tmp_path / "cli.out")
    run_id = _wait("the scheduler creates a run", 60, lambda: next(
        (r for (r,) in _query(home, "SELECT run_id FROM dag_run WHERE dag_id = ? "
                                    "AND run_type = 'scheduled' ORDER BY id", DAG_ID)), None))
    state = _wait("the scheduled run ends", 240, lambda: next(
        (s for (s,) in _query(home, "SELECT state FROM dag_run WHERE run_id = ?", run_id)
         if s in ("success", "failed")), None))
    print(f"{DAG_ID} under the scheduler: {time.monotonic() - started:.0f} s from DAG parsed to run {state} ({run_id})")
    tasks = _query(home, "SELECT ti.task_id, ti.state, ti.hostname, ti.pid, j.job_type "
                         "FROM task_instance ti LEFT JOIN job j ON j.id = ti.queued_by_job_id "
                         "WHERE ti.run_id = ?", run_id)
    assert state == "success", tasks
    ran = [t for t in tasks if t[1] == "success"]
    assert len(ran) > 3 and all(host and pid and job == "SchedulerJob"
                                for _, _, host, pid, job in ran), tasks

    airflow_setup.stop(process)  # everything flushed before the search (stopping twice is harmless)
    places = {"Airflow's database": _airflow_db_text(home),
              "the store": _store_text(env["CUSTHUB_STORE_URL"]),
              **_files(home, tmp_path / "reports"),
              **{str(p): p.read_text(errors="replace") for p in tmp_path.glob("*.out")}}
    logs = [p for p in places if "/logs/" in p and f"run_id={run_id}" in p]
    assert logs, "the tasks wrote their logs under AIRFLOW_HOME"
    assert any("DEBUG" in places[p] or '"level":"debug"' in places[p] for p in logs), \
        "the task logs are at DEBUG"
    served = places[str(tmp_path / "standalone.out")]
    assert all(f"/execution/connections/{c} " in served for c in ("custhub_crm", "custhub_erp",
                                                                 "custhub_accounting")), \
        "the tasks fetched their connections (markers) from the api-server"
    assert _found(marks, places) == []
