"""The steady-state reconcile, incremental against full, at 10k and 100k companies (SQLite store).

Each size runs in a fresh process (``python -m bench.reconcile_steady SIZE``): the bench estate
(bench/reconcile.py) is staged, mapped and reconciled once (the first, full run); then
reconcile runs with nothing changed, and again after 1 % of each system's records changed
(name and address edits, new records, deletions), each time incrementally on the store and
fully (retraining the match model, as the weekly full run does) on a copy of the store taken
just before. ``reconsidered`` is how many records the run matched and survived again.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from sqlalchemy import select

from bench._reconcile_store_worker import _stage
from bench._reconcile_worker import SYSTEMS
from bench._rss import PeakRss
from bench.reconcile import _estate
from connectors.base import Page, RawRecord
from hub.config import HubConfig, load_config
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.map import map_system
from hub.pipeline.reconcile import reconcile_run
from hub.pipeline.runs import start_run
from hub.pipeline.stage import mark_deleted, stage_page
from hub.store.db import session_scope
from hub.store.models import RunMetric, SourceRecord
from mappings.engine import load_spec

SIZES = (10_000, 100_000)
SHARE = 0.01
_EDITED = {"crm": ("Name", "Street"), "accounting": ("company_name", "street"), "erp": ("NAZEV", "ULICE")}


def run(scale: float = 1.0) -> dict[str, float]:
    figures: dict[str, float] = {}
    for size in sorted({max(500, int(n * scale)) for n in SIZES}):
        out = subprocess.run([sys.executable, "-m", "bench.reconcile_steady", str(size)],
                             check=True, capture_output=True, text=True)
        for key, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
            figures[f"{size:>9,} companies: {key}"] = value
    return figures


def main(size: int, scratch: Path) -> dict[str, float]:
    store = scratch / "hub.db"
    config = _config(load_config(), store)
    engine = open_store(config)
    ctx = RunContext(config, engine, start_run(engine, "nightly"))
    for system in SYSTEMS:
        _stage(ctx, system, _estate(size))
        map_system(ctx, system)
    figures = _timed(ctx, "first run (full)", full=False)
    figures |= _both(config, scratch, "nothing changed")
    ctx = RunContext(config, engine, start_run(engine, "nightly"))
    started = time.perf_counter()
    changed = sum(_change(ctx, system) for system in SYSTEMS)
    figures["1 % changed: stage and map s"] = time.perf_counter() - started
    figures["1 % changed: records changed"] = changed
    return figures | _both(config, scratch, "1 % changed", ctx.run_id)


def _config(config: HubConfig, store: Path) -> HubConfig:
    return config.model_copy(update={"store": config.store.model_copy(update={"url": f"sqlite:///{store}"})})


def _both(config: HubConfig, scratch: Path, label: str, run_id: str | None = None) -> dict[str, float]:
    """Reconcile incrementally, and fully on a copy of the store taken just before."""
    with sqlite3.connect(scratch / "hub.db") as source, sqlite3.connect(scratch / "copy.db") as target:
        source.backup(target)  # with what the write-ahead log holds
    copy = _config(config, scratch / "copy.db")
    engine = open_store(copy)
    figures = _timed(RunContext(copy, engine, run_id or start_run(engine, "nightly")), f"{label}, full", full=True)
    engine.dispose()
    engine = open_store(config)
    return figures | _timed(RunContext(config, engine, run_id or start_run(engine, "nightly")),
                            f"{label}, incremental", full=False)


def _timed(ctx: RunContext, label: str, full: bool) -> dict[str, float]:
    with PeakRss() as peak:
        started = time.perf_counter()
        reconcile_run(ctx, full=full)
        took = time.perf_counter() - started
    with session_scope(ctx.engine) as session:
        reconsidered = session.get(RunMetric, (ctx.run_id, "hub", "reconsidered")).value
    return {f"{label}: reconcile s": took, f"{label}: reconsidered": reconsidered,
            f"{label}: peak RSS MB": peak.peak}


def _change(ctx: RunContext, system: str) -> int:
    """1 % of the system's records: a third edited (name and street), a third new, a third deleted."""
    with session_scope(ctx.engine) as session:
        picked = list(session.execute(select(SourceRecord.record_id, SourceRecord.payload)
                                      .where(SourceRecord.system == system)
                                      .order_by(SourceRecord.record_id)))[::int(1 / SHARE)]
    edits, news, gone = picked[0::3], picked[1::3], picked[2::3]
    key = load_spec(ctx.config.systems[system].mapping).record_id
    name, street = _EDITED[system]
    records = [RawRecord(r, {**p, name: f"{p.get(name)} Nova", street: f"{p.get(street)}a"}) for r, p in edits]
    records += [RawRecord(f"{r}-N", {**p, key: f"{r}-N", name: f"{p.get(name)} Dceřiná"}) for r, p in news]
    with session_scope(ctx.engine) as session:
        stage_page(session, system, Page(records=records, cursor=None), ctx.run_id)
        mark_deleted(session, system, [r for r, _ in gone], ctx.run_id)
    map_system(ctx, system)
    return len(picked)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        print(json.dumps(main(int(sys.argv[1]), Path(directory))))
