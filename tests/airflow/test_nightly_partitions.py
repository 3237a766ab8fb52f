"""nightly_batch with mapping split into partitions (orchestration.partitions.map: 3) through
Airflow (dag.test) decides exactly what the run with one map task per system decides, over two
estates generated alike (a run moves the ERP files and writes back, so each needs its own)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.config import load_config
from hub.pipeline.context import metrics, open_store
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, Discrepancy, Outbox, Quarantine, Run
from sandbox.estate import SandboxEstate
from tests.e2e.test_nightly_over_sandbox import _wrong_fields
from tests.fixtures.airflow import load_dag, run_dag, task_states, write_test_config
from tests.fixtures.estate import _started

pytestmark = [pytest.mark.integration, pytest.mark.airflow, pytest.mark.e2e]


@contextmanager
def _estate(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxEstate]:
    """The estate of tests.fixtures.estate.sandbox_estate (same size and seed), its connections set."""
    started = _started(SandboxEstate(root, n_companies=60, seed=11), monkeypatch)
    try:
        yield next(started)
    finally:
        next(started, None)


def _nightly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partitions: int) -> dict[str, Any]:
    where = tmp_path / f"partitions-{partitions}"
    where.mkdir()
    monkeypatch.setenv("CUSTHUB_CONFIG", str(write_test_config(where, partitions={"map": partitions})))
    monkeypatch.setenv("CUSTHUB_STORE_URL", f"sqlite:///{where / 'hub.db'}")
    with _estate(where / "estate", monkeypatch) as estate:
        config = load_config()
        dag_run = run_dag(load_dag("nightly_batch"))
        states = task_states(dag_run)
        assert str(dag_run.state) == "success", states
        estate.process_inbound()
        assert _wrong_fields(config, estate) == []  # every system holds the truth
    maps = sorted(t for t in states if t.startswith("map_records"))
    assert len(maps) == partitions * len(config.enabled_systems()), states
    assert {states[t] for t in maps} == {"success"}, states
    return _decided(config)


def _decided(config: Any) -> dict[str, Any]:
    """What the run decided, without its ids and times, nor the hashes of the raw payloads
    (each estate stamps its records with the time it was generated)."""
    with session_scope(open_store(config)) as session:
        run_id = session.scalar(select(Run.id).where(Run.kind == "nightly"))
        figures = {k: v for k, v in metrics(session, run_id).items()
                   if not k[1].endswith("_ms") and "@" not in k[1]}
        return {
            "canonical": sorted((c.system, c.record_id, c.values)
                                for c in session.scalars(select(CanonicalRecord))),
            "quarantine": sorted((q.system, q.record_key, q.stage, q.reason)
                                 for q in session.scalars(select(Quarantine))),
            "discrepancies": sorted((d.system, d.record_id, d.field, d.system_value or "",
                                     d.golden_value or "", d.corrected)
                                    for d in session.scalars(select(Discrepancy))),
            "outbox": sorted((o.system, o.record_id, o.status) for o in session.scalars(select(Outbox))),
            "figures": figures}


def test_nightly_batch_in_three_partitions_decides_as_one_task_per_system(
        airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _nightly(tmp_path, monkeypatch, 1)
    split = _nightly(tmp_path, monkeypatch, 3)
    assert whole["canonical"] and whole["outbox"]  # the run had work to split
    assert whole["figures"][("crm", "mapped")] > 0 and whole["figures"][("crm", "quarantined")] > 0
    for part in whole:
        assert split[part] == whole[part], part
