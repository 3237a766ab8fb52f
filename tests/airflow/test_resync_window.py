"""The resync_window DAG: params validated by their JSON schema and by the plan; a dry run writes
nothing back and lists what would change; the same window for real writes exactly that."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from hub import tasks
from hub.config import load_config
from core.errors import ConfigError
from hub.pipeline.context import open_store
from hub.store.db import session_scope
from hub.store.models import Outbox, Run
from sandbox.estate import SandboxEstate
from tests.fixtures.airflow import load_dag, run_dag, task_states

pytestmark = [pytest.mark.airflow]

WINDOW = {"start": "2026-03-02", "end": "2026-03-04"}


def _around_today() -> dict[str, str]:
    """A window holding the sandbox estate, which is seeded now: a backfill reads only what
    changed in its window [start, end + 1 day)."""
    today = datetime.now(UTC).date()
    return {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}


def test_params_are_checked_by_their_json_schema(dag_config: Path) -> None:
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    dag = load_dag("resync_window")

    def validate(conf: dict) -> dict:
        params = ParamsDict(dag.params)
        params.update(conf)
        return params.validate()

    assert validate({**WINDOW, "systems": ["erp"]})["dry_run"] is True  # dry by default
    for bad in ({**WINDOW, "start": "yesterday"}, {**WINDOW, "systems": []},
                {**WINDOW, "dry_run": "no"}, {**WINDOW, "systems": ["crm", "crm"]}):
        with pytest.raises(ParamValidationError):
            validate(bad)


def test_the_plan_refuses_what_a_schema_cannot_see(dag_config: Path) -> None:
    assert tasks.plan_backfill({**WINDOW, "systems": ["erp"], "dry_run": True}) == {
        "systems": ["erp"], "start": "2026-03-02", "end": "2026-03-05", "dry_run": True}
    for bad in ({"start": "2026-03-04", "end": "2026-03-02"}, {**WINDOW, "systems": ["sap"]},
                {"start": "2026-01-01", "end": "2026-12-31"}):
        with pytest.raises(ConfigError):
            tasks.plan_backfill(bad)


@pytest.mark.integration
def test_a_dry_run_writes_nothing_and_lists_what_the_real_run_then_writes(
        airflow_db: Path, dag_config: Path, sqlite_store: str, sandbox_estate: SandboxEstate) -> None:
    dag, chosen, window = load_dag("resync_window"), ["accounting", "erp"], _around_today()
    before = _systems(sandbox_estate)
    dry = run_dag(dag, run_conf={**window, "systems": chosen, "dry_run": True})
    assert str(dry.state) == "success", task_states(dry)
    assert _systems(sandbox_estate) == before, "a dry run wrote to a system"
    engine = open_store(load_config())
    with session_scope(engine) as session:
        run = session.scalar(select(Run).where(Run.external_id == f"resync_window/{dry.run_id}"))
        queued = session.scalar(select(sa.func.count()).select_from(Outbox))
    assert run.dry_run and (run.interval_end - run.interval_start).days == 2
    assert queued == 0, "a dry run queued corrections"
    listed = _would_change(Path(load_config().report_dir) / run.id / "would_change.csv")
    assert listed and {system for system, _, _ in listed} <= set(chosen)

    real = run_dag(dag, run_conf={**window, "systems": chosen, "dry_run": False})
    assert str(real.state) == "success", task_states(real)
    after = _systems(sandbox_estate)
    assert after["crm"] == before["crm"], "a system outside the backfill was written to"
    assert after["erp imports"], "the real run wrote no ERP import file"
    with session_scope(engine) as session:
        sent = {(o.system, o.record_id, f) for o in session.scalars(select(Outbox).where(
            Outbox.status == "sent")) for f in o.values}
    assert sent == listed  # what the dry run listed is what the real run wrote


def _would_change(path: Path) -> set[tuple[str, str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return {(row["system"], row["record_id"], row["field"]) for row in csv.DictReader(f)}


def _systems(estate: SandboxEstate) -> dict[str, object]:
    with estate.accounting.connect() as conn:
        imports = conn.execute(sa.text("SELECT count(*) FROM customer_import")).scalar_one()
    return {"crm": estate.crm.accounts(), "accounting imports": imports,
            "erp imports": sorted(p.name for p in (estate.root / "erp" / "import").glob("*"))
            if (estate.root / "erp" / "import").exists() else []}
