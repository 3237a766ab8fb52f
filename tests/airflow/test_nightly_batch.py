"""nightly_batch through Airflow (dag.test) over the sandbox estate: the systems end up holding
the truth (hub store on SQLite and on PostgreSQL); re-running three days changes nothing; a
publish killed mid-way by a real fault and retried by Airflow neither doubles nor loses a write."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy import func, select

from hub.config import load_config
from hub.pipeline.context import metrics, open_store
from hub.store.db import session_scope
from hub.store.models import Base, Outbox, Run
from sandbox.estate import SandboxEstate
from tests.e2e.test_nightly_over_sandbox import _wrong_fields
from tests.fixtures.airflow import load_dag, run_dag, task_states

pytestmark = [pytest.mark.integration, pytest.mark.airflow, pytest.mark.e2e]

# Columns that record *when* an execution happened, not *what* it decided: a repeat of the same
# run necessarily rewrites them. Everything else must come out byte-identical.
#   run.started_at / run.finished_at   when the (re-)execution of the run began and ended
#   cursor.updated_at                  when an extract last confirmed the cursor (value unchanged)
WHEN_COLUMNS = {"run": {"started_at", "finished_at"}, "cursor": {"updated_at"}}


@pytest.fixture
def store_env(hub_store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CUSTHUB_STORE_URL", hub_store_url)
    return hub_store_url


def test_nightly_batch_brings_every_system_to_the_truth(
        airflow_db: Path, dag_config: Path, store_env: str, sandbox_estate: SandboxEstate) -> None:
    config = load_config()
    assert _wrong_fields(config, sandbox_estate), "the generated estate should start with drift"
    dag_run = run_dag(load_dag("nightly_batch"))
    assert str(dag_run.state) == "success", task_states(dag_run)
    sandbox_estate.process_inbound()
    assert _wrong_fields(config, sandbox_estate) == []
    with session_scope(open_store(config)) as session:
        pending = session.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == "pending"))
        sent = session.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == "sent"))
    assert (pending, sent > 0) == (0, True)
    assert _asset_events("custhub_golden_records") >= 1
    with session_scope(open_store(config)) as session:  # each task's time, as the CLI keeps it
        run_id = session.scalar(select(Run.id).where(Run.kind == "nightly"))
        timed = {(s, m) for (s, m) in metrics(session, run_id) if m.endswith("_ms")}
    systems = config.enabled_systems()
    assert timed >= {*((s, f"{step}_ms") for s in systems for step in ("extract", "map", "publish")),
                     *((r, "registries_ms") for r in config.registries if config.registries[r].enabled),
                     ("hub", "reconcile_ms"), ("hub", "report_ms")}


def _asset_events(name: str) -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.scalar(select(func.count()).select_from(AssetEvent).join(
            AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.name == name))


# -- re-running a backfill ------------------------------------------------------------------

DAYS = [datetime(2026, 3, d, 1, 0, tzinfo=UTC) for d in (2, 3, 4)]


def _run_days(estate: SandboxEstate) -> list[dict[str, str]]:
    """Three nightly runs, as `airflow backfill create` makes them: one per data interval,
    each system's own import job running between two nights."""
    dag, states = load_dag("nightly_batch"), []
    for day in DAYS:
        # A fixed run_after gives the same Airflow run id, as a re-run backfill has.
        dag_run = run_dag(dag, logical_date=day, run_after=day + timedelta(hours=1))
        assert str(dag_run.state) == "success", task_states(dag_run)
        states.append(task_states(dag_run))
        estate.process_inbound()
    return states


def test_a_three_day_backfill_run_twice_changes_nothing(
        airflow_db: Path, dag_config: Path, sqlite_store: str, sandbox_estate: SandboxEstate) -> None:
    assert all(s["publish[0]"] == "success" for s in _run_days(sandbox_estate))
    first = _snapshot(sqlite_store, sandbox_estate)
    repeated = _run_days(sandbox_estate)
    second = _snapshot(sqlite_store, sandbox_estate)
    for part in first:
        assert second[part] == first[part], f"{part} changed on the second run"
    assert len(first["hub store"]["run"]) == len(DAYS)  # the repeat joined the same hub runs
    # A succeeded hub run is final: its repeat stops at start, and says so.
    assert all(s["start"] == "skipped" for s in repeated), repeated


def _snapshot(store_url: str, estate: SandboxEstate) -> dict[str, Any]:
    return {"hub store": _dump_store(store_url),
            "crm": _dump_sqlite(estate.root / "crm.sqlite"),
            "accounting": _dump_sqlite(estate.root / "accounting.sqlite"),
            "erp files": _file_digests(estate.root / "erp"),
            "erp state": (estate.root / "erp-state.json").read_bytes()}


def _dump_store(url: str) -> dict[str, list[tuple]]:
    engine = sa.create_engine(url)
    dump = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in WHEN_COLUMNS.get(table.name, set())]
            rows = conn.execute(sa.select(*columns).order_by(*table.primary_key.columns))
            dump[table.name] = [tuple(row) for row in rows]
    engine.dispose()
    return dump


def _dump_sqlite(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _file_digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# -- a task killed mid-way ------------------------------------------------------------------

def test_publish_killed_mid_way_is_retried_without_doubles_or_loss(
        airflow_db: Path, dag_config: Path, sqlite_store: str, sandbox_estate: SandboxEstate) -> None:
    _fail_fast_crm(dag_config)
    dag = load_dag("nightly_batch")
    day = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
    when = {"logical_date": day, "run_after": day + timedelta(hours=1)}
    # Everything up to the outbox, nothing sent yet.
    prepared = run_dag(dag, mark_success_pattern="publish|finish", **when)
    assert str(prepared.state) == "success", task_states(prepared)
    engine = open_store(load_config())
    before = {a["AccountId"]: int(a["Version"]) for a in sandbox_estate.crm.accounts()}
    with session_scope(engine) as session:
        corrections = {o.record_id: o.values for o in session.scalars(
            select(Outbox).where(Outbox.system == "crm", Outbox.status == "pending"))}
    assert len(corrections) > 3
    # The CRM answers three upserts, then fails with HTTP 503 until the connector gives up:
    # the publish task dies with three corrections applied and not yet recorded as sent.
    sandbox_estate.crm.fail_next("", "", "", "http503", "http503")
    resumed = run_dag(dag, mark_success_pattern="extract|map_records|check_.*|reconcile", **when)
    assert str(resumed.state) == "success", task_states(resumed)
    assert _tries(resumed.run_id, "publish") == {"crm": 2, "accounting": 1, "erp": 1}
    after = {a["AccountId"]: int(a["Version"]) for a in sandbox_estate.crm.accounts()}
    # No double: each corrected account was written exactly once; no loss: every one was.
    assert {k: after[k] - before[k] for k in corrections} == {k: 1 for k in corrections}
    assert all(after[k] == before[k] for k in before if k not in corrections)
    with session_scope(engine) as session:
        rows = list(session.scalars(select(Outbox).where(Outbox.system == "crm")))
    assert {r.status for r in rows} == {"sent"} and len(rows) == len(corrections)


def _tries(run_id: str, task_id: str) -> dict[str, int]:
    """How often Airflow ran each mapped instance of the task (its try number), by system."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    systems = load_config().enabled_systems()  # the order the systems task returned
    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(
            TaskInstance.run_id == run_id, TaskInstance.task_id == task_id))
        return {systems[ti.map_index]: ti.try_number for ti in tis}


def _fail_fast_crm(config_path: Path) -> None:
    """Two transport attempts a few milliseconds apart, so the fault exhausts them quickly; one
    account per UpsertAccounts call, so that the CRM can fail in the middle of the corrections."""
    raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    raw["systems"]["crm"].setdefault("connector", {}).update(
        retry_attempts=2, retry_initial_wait=0.01, retry_max_wait=0.02, write_batch_size=1)
    config_path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")


# -- a run a guard holds --------------------------------------------------------------------

def test_a_held_run_skips_publishing_and_finishes_awaiting_approval(
        airflow_db: Path, dag_config: Path, sqlite_store: str, sandbox_estate: SandboxEstate) -> None:
    from tests.e2e.test_reconcile_over_sandbox import _crm_sets_email, _synced

    engine, _, ids = _synced(load_config(), sandbox_estate)
    raw = yaml.safe_load(dag_config.read_text(encoding="utf-8"))
    raw["guards"] = {**raw["guards"], "max_golden_change_share": 0.0, "min_golden_records": 1}
    dag_config.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    _crm_sets_email(sandbox_estate, ids["crm"], "novy@presunuto.cz")  # changes one golden record
    dag_run = run_dag(load_dag("nightly_batch"))
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert {s for t, s in states.items() if t.startswith("publish")} == {"skipped"}, states
    assert states["finish"] == "success", states
    with session_scope(engine) as session:
        run = session.scalar(select(Run).where(Run.external_id == f"nightly_batch/{dag_run.run_id}"))
        assert run.status == "awaiting_approval" and "would change 1 of" in (run.message or "")
        unsent = select(func.count()).select_from(Outbox).where(Outbox.status != "sent")
        assert session.scalar(unsent) == 0, "the held run computed no correction to send"
