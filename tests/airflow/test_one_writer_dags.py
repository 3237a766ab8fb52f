"""The run lease and failure isolation under Airflow (dag.test over the sandbox estate): a DAG run
is refused while another run holds the store; a garbage ERP file leaves the ERP out of the run
while the other systems publish."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.config import load_config
from hub.pipeline import lease
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.isolation import SKIP, excluded
from hub.pipeline.runs import start_run
from hub.store.db import session_scope
from hub.store.models import Outbox, Run
from sandbox.estate import SandboxEstate
from tests.fixtures.airflow import load_dag, run_dag, task_states
from tests.hub.pipeline.test_isolation import _garbage_export

pytestmark = [pytest.mark.integration, pytest.mark.airflow, pytest.mark.e2e]


def test_a_dag_run_is_refused_while_another_run_holds_the_store(
        airflow_db: Path, dag_config: Path, sqlite_store: str, sandbox_estate: SandboxEstate) -> None:
    engine = open_store(load_config())
    lease.take(engine, "cli-run", 600)
    start_run(engine, "nightly", run_id="cli-run")
    dag_run = run_dag(load_dag("nightly_batch"))
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed" and states["start"] == "failed", states
    with session_scope(engine) as session:
        assert [(r.id, r.status) for r in session.scalars(select(Run))] == [("cli-run", "running")]
    assert lease.current(engine).run_id == "cli-run"  # the refused run left the holder alone


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
