"""One store bench size in a fresh process: ``python -m bench._reconcile_store_worker DIRECTORY``."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import polars as pl

from bench._reconcile_worker import SYSTEMS
from bench._stages import Stages
from connectors.base import Page, RawRecord
from hub.config import load_config
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.map import map_system
from hub.pipeline.reconcile import reconcile_run
from hub.pipeline.runs import start_run
from hub.pipeline.stage import stage_page
from hub.store.db import session_scope
from mappings.engine import load_spec

PAGE = 5_000


def main(directory: Path, store: Path) -> dict[str, float]:
    config = load_config()
    config = config.model_copy(update={"store": config.store.model_copy(update={"url": f"sqlite:///{store}"})})
    engine = open_store(config)
    ctx = RunContext(config, engine, start_run(engine, "nightly"))
    stages = Stages()
    for system in SYSTEMS:
        _stage(ctx, system, directory)
    stages.lap("stage")
    mapped = sum(map_system(ctx, system).get("mapped", 0) for system in SYSTEMS)
    stages.lap("map")
    result = reconcile_run(ctx)
    stages.lap("reconcile (match, survivorship, diff, outbox)")
    figures = stages.done()
    figures.update({"records mapped": mapped,
                    "golden records": result.counts["golden_created"], "outbox rows": result.counts["corrections"]})
    return figures


def _stage(ctx: RunContext, system: str, directory: Path) -> None:
    record_id = load_spec(ctx.config.systems[system].mapping).record_id
    for path in sorted(directory.glob(f"{system}-*.parquet")):
        rows = pl.read_parquet(path).to_dicts()
        for start in range(0, len(rows), PAGE):
            records = [RawRecord(str(r[record_id]), r) for r in rows[start:start + PAGE]]
            with session_scope(ctx.engine) as session:
                stage_page(session, system, Page(records=records, cursor=None), ctx.run_id)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        print(json.dumps(main(Path(sys.argv[1]), Path(scratch) / "hub.db")))
