"""One bench size, timed stage by stage in a fresh process (so its peak memory is its own).

``python -m bench._reconcile_worker DIRECTORY`` prints the figures as JSON.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import polars as pl

from bench._reconcile_map import map_system
from hub.config import load_config
from mappings.customer import CUSTOMER_FIELDS
from hub.pipeline.golden import correction_key
from mappings.engine import load_spec
from reconciliation.diff import differing
from reconciliation.matching import Linker
from reconciliation.matching.evaluation import pairwise_scores
from reconciliation.survivorship import FieldRule, golden_frame

SYSTEMS = ("crm", "accounting", "erp")


def main(directory: Path) -> dict[str, float]:
    config = load_config()
    figures: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        figures[f"{stage} s"] = now - clock
        figures[f"peak GB after {stage}"] = _peak_gb()
        clock = now

    # One file at a time: only one file's raw columns are in memory with the mapped result.
    records = pl.concat([_map(pl.read_parquet(path), s)
                         for s in SYSTEMS for path in sorted(directory.glob(f"{s}-*.parquet"))], rechunk=True)
    lap("read + map")
    result = Linker(config.matching).link(records.drop("source_hash"))
    lap("match")
    members = _members(records, result.clusters)
    del records  # the members carry the same columns
    rules = {f: FieldRule(r.rule, tuple(r.sources)) for f in CUSTOMER_FIELDS
             for r in [config.survivorship.rule_for(f)]}
    golden = golden_frame(members, rules, CUSTOMER_FIELDS)
    lap("survivorship")
    carries = {s: set(load_spec(config.systems[s].mapping).fields) for s in SYSTEMS}
    receives = {s: config.systems[s].receives for s in SYSTEMS}
    found = differing(members, golden, CUSTOMER_FIELDS, receives, carries)
    lap("diff")
    outbox = _outbox(members, found)
    lap("outbox")
    figures["total s"] = sum(v for k, v in figures.items() if k.endswith(" s"))
    figures["peak memory GB"] = _peak_gb()
    truth = pl.read_parquet(sorted(directory.glob("truth-*.parquet")))
    scores = pairwise_scores(result.clusters, truth)
    figures.update({"records": members.height, "candidate pairs": result.stats.get("pairs", 0),
                    "golden records": golden.height, "differences (fields)": found.height,
                    "corrections (fields)": found["correct"].sum(),
                    "outbox rows": len(outbox), "review candidates": result.candidates.height,
                    # in per cent: the bench prints two decimals
                    "precision %": 100 * scores.precision, "recall %": 100 * scores.recall,
                    "F1 %": 100 * scores.f1})
    return figures


def _map(raw: pl.DataFrame, system: str) -> pl.DataFrame:
    # The staged content hash stands in for the hub's (the stage step computes it, not reconcile).
    return map_system(raw, system).with_columns(raw.hash_rows().cast(pl.String).alias("source_hash"))


def _members(records: pl.DataFrame, clusters: pl.DataFrame) -> pl.DataFrame:
    """The records as a members frame (see reconciliation.survivorship): joined on the keys
    only, so the other columns are not copied."""
    keys = ["system", "record_id"]
    found = records.select(keys).join(clusters.select(*keys, "cluster"), on=keys, how="left",
                                      maintain_order="left")
    if found.height != records.height or found["cluster"].null_count():
        raise ValueError("every record is in exactly one cluster")
    return records.with_columns(found["cluster"].alias("entity"), pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
                                pl.lit(None, pl.String).alias("seen_at"))


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _outbox(members: pl.DataFrame, found: pl.DataFrame) -> list[str]:
    """One row per record to correct, keyed as the hub keys its outbox (hub.pipeline.golden)."""
    due = (found.filter("correct").join(members.select("row", "system", "record_id", "source_hash"), on="row")
           .sort("row", "field").group_by("row", maintain_order=True)
           .agg(pl.first("system"), pl.first("record_id"), pl.first("source_hash"), "field", "golden"))
    return [correction_key(system, record_id, dict(zip(fields, values, strict=True)), source_hash)
            for _, system, record_id, source_hash, fields, values in due.iter_rows()]


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
