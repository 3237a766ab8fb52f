"""crm_sync through Airflow (dag.test) over the sandbox estate: it syncs and hands the change to
registry_refresh through an asset, skips when nothing changed, and stands aside while the
nightly batch runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.config import load_config
from hub.pipeline.context import open_store
from hub.store.db import session_scope
from hub.store.models import GoldenRecord, RegistryCheck, Run, SourceRecord
from sandbox.estate import SandboxEstate
from tests.fixtures.airflow import load_dag, run_dag, task_states

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


def _queued_for(dag_id: str) -> set[str]:
    """Assets whose events wait to trigger ``dag_id`` (Airflow's data-aware scheduling queue)."""
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(select(AssetModel.name).join(
            AssetDagRunQueue, AssetDagRunQueue.asset_id == AssetModel.id).where(
            AssetDagRunQueue.target_dag_id == dag_id))
        return {name for (name,) in rows}


def test_crm_changes_flow_to_registry_refresh_then_the_next_sync_skips(
        airflow_db: Path, dag_config: Path, sqlite_store: str,
        sandbox_estate: SandboxEstate) -> None:
    crm_sync = load_dag("crm_sync")
    first = run_dag(crm_sync)
    assert str(first.state) == "success", task_states(first)
    engine = open_store(load_config())
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == len(
            sandbox_estate.generated.crm_accounts)
        assert session.scalar(select(func.count()).select_from(GoldenRecord)) > 0
    # The extract's outlet asset queued registry_refresh: data-aware scheduling, no sensor.
    assert "custhub_staged_crm" in _queued_for("registry_refresh")

    refresh = run_dag(load_dag("registry_refresh"))
    assert str(refresh.state) == "success", task_states(refresh)
    with session_scope(engine) as session:
        checked = {r for (r,) in session.execute(select(RegistryCheck.registry_name).distinct())}
    assert {"ares", "vies", "isir"} <= checked

    second = run_dag(crm_sync)
    states = task_states(second)
    assert str(second.state) == "success"
    assert states["extract"] == "skipped" and states["reconcile"] == "skipped", states
    with session_scope(engine) as session:
        run = session.scalar(select(Run).where(Run.external_id == f"crm_sync/{second.run_id}"))
        assert (run.status, run.message) == ("succeeded", "nothing changed in crm")


def test_crm_sync_stands_aside_while_the_nightly_batch_runs(
        airflow_db: Path, dag_config: Path, sqlite_store: str,
        sandbox_estate: SandboxEstate) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    crm_sync = load_dag("crm_sync")
    # A nightly run in progress, as the scheduler would have it.
    nightly = load_dag("nightly_batch")
    run_dag(crm_sync, mark_success_pattern=".*")  # stores both DAGs in Airflow's database
    with create_session() as session:
        session.add(DagRun(dag_id=nightly.dag_id, run_id="scheduled__nightly_in_progress",
                           run_type=DagRunType.SCHEDULED, state="running",
                           logical_date=datetime(2026, 1, 2, 1, tzinfo=UTC),
                           triggered_by=DagRunTriggeredByType.TIMETABLE))
    try:
        blocked = run_dag(crm_sync)
    finally:
        with create_session() as session:
            session.query(DagRun).filter(DagRun.run_id == "scheduled__nightly_in_progress").delete()
    states = task_states(blocked)
    assert states["nightly_not_running"] == "success"  # a short circuit succeeds and skips
    assert states["start"] == "skipped" and states["extract"] == "skipped", states
    with session_scope(open_store(load_config())) as session:
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == 0
