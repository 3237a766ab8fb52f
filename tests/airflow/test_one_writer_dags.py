"""The run lease and failure isolation under Airflow (dag.test over the sandbox estate): a DAG run
waits while another run holds the store; a garbage ERP file leaves the ERP out of the run
while the other systems publish."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.config import load_config
from hub.pipeline import lease
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.isolation import SKIP, excluded
from hub.pipeline.runs import finish_run, start_run
from hub.store.db import session_scope
from hub.store.models import Outbox, Run
from sandbox.estate import SandboxEstate
from tests.fixtures.airflow import load_dag, run_dag, task_states
from tests.hub.pipeline.test_isolation import _garbage_export

pytestmark = [pytest.mark.integration, pytest.mark.airflow, pytest.mark.e2e]


def test_a_dag_run_waits_at_start_while_another_run_holds_the_store(
        airflow_db: Path, dag_config: Path, sqlite_store: str, sandbox_estate: SandboxEstate) -> None:
    """The start task looks again (a sensor in reschedule mode) instead of failing, leaves the
    holder alone while it waits, and starts the night once the other run has finished."""
    engine = open_store(load_config())
    lease.take(engine, "cli-run", 600)
    start_run(engine, "nightly", run_id="cli-run")
    seen: list[tuple[str, str] | None] = []

    def other_run_finishes() -> None:
        time.sleep(6)  # the start task has looked at least once by now (a look every 2 s)
        with session_scope(engine) as session:
            seen.append(next(((r.id, r.status) for r in session.scalars(select(Run)) if r.id != "cli-run"), None))
        finish_run(engine, "cli-run", "succeeded")
        lease.release(engine, "cli-run")

    holder = threading.Thread(target=other_run_finishes)
    holder.start()
    dag_run = run_dag(load_dag("nightly_batch"))
    holder.join()
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert seen == [None], "the waiting run created no hub run while the other held the store"
    with session_scope(engine) as session:
        runs = {r.id: r.status for r in session.scalars(select(Run))}
    assert runs.pop("cli-run") == "succeeded" and list(runs.values()) == ["succeeded"], runs


def test_a_garbage_erp_file_leaves_the_erp_out_and_the_others_publish(
        airflow_db: Path, dag_config: Path, sqlite_store: str, sandbox_estate: SandboxEstate) -> None:
    _garbage_export(sandbox_estate)
    dag_run = run_dag(load_dag("nightly_batch"))
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert {s for t, s in states.items() if t.startswith("publish")} == {"success"}, states
    config = load_config()
    engine = open_store(config)
    with session_scope(engine) as session:
        run = session.scalar(select(Run).where(Run.external_id == f"nightly_batch/{dag_run.run_id}"))
        sent = dict(session.execute(select(Outbox.system, func.count()).where(
            Outbox.run_id == run.id, Outbox.status == "sent").group_by(Outbox.system)).tuples().all())
    assert run.status == "succeeded" and (run.message or "").startswith("erp skipped: ")
    assert excluded(RunContext(config, engine, run.id)) == {"erp": SKIP}
    assert sent.get("crm") and sent.get("accounting") and "erp" not in sent, sent
    assert lease.current(engine) is None  # released when the run finished
