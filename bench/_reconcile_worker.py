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
from reconciliation.matching import Linker
from reconciliation.matching.evaluation import pairwise_scores

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
    records = pl.concat([map_system(pl.read_parquet(path), s)
                         for s in SYSTEMS for path in sorted(directory.glob(f"{s}-*.parquet"))], rechunk=True)
    lap("read + map")
    result = Linker(config.matching).link(records)
    lap("match")
    members = _with_cluster(records, result.clusters)
    del records  # the members carry the same columns
    golden = _survive(members, config)
    lap("survivorship")
    corrections = _diff(members, golden, config)
    lap("diff")
    outbox = _outbox(corrections)
    lap("outbox")
    figures["total s"] = sum(v for k, v in figures.items() if k.endswith(" s"))
    figures["peak memory GB"] = _peak_gb()
    truth = pl.read_parquet(sorted(directory.glob("truth-*.parquet")))
    scores = pairwise_scores(result.clusters, truth)
    figures.update({"records": members.height, "candidate pairs": result.stats.get("pairs", 0),
                    "golden records": golden.height, "corrections (fields)": corrections.height,
                    "outbox rows": outbox.height, "review candidates": result.candidates.height,
                    # in per cent: the bench prints two decimals
                    "precision %": 100 * scores.precision, "recall %": 100 * scores.recall,
                    "F1 %": 100 * scores.f1})
    return figures


def _with_cluster(records: pl.DataFrame, clusters: pl.DataFrame) -> pl.DataFrame:
    """The records with their cluster: joined on the keys only, so the other columns are not copied."""
    keys = ["system", "record_id"]
    found = records.select(keys).join(clusters.select(*keys, "cluster"), on=keys, how="left",
                                      maintain_order="left")
    if found.height == records.height and not found["cluster"].null_count():
        return records.with_columns(found["cluster"])
    return records.join(clusters.select(*keys, "cluster"), on=keys)  # duplicate or unclustered keys


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _survive(members: pl.DataFrame, config) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """Source priority per field, column-wise: the first listed source holding a value wins."""
    golden = members.select("cluster").unique()
    for field in CUSTOMER_FIELDS:
        rank = {s: i for i, s in enumerate(config.survivorship.rule_for(field).sources)}
        best = (members.select("cluster", "system", "record_id", field)
                .with_columns(pl.col("system").replace_strict(rank, default=None, return_dtype=pl.Int32).alias("_rank"))
                .filter(pl.col("_rank").is_not_null() & pl.col(field).is_not_null())
                .sort("cluster", "_rank", "record_id").unique("cluster", keep="first").select("cluster", field))
        golden = golden.join(best, on="cluster", how="left")
    return golden


def _diff(members: pl.DataFrame, golden: pl.DataFrame, config) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """(system, record_id, field, value) for every received field where a system differs from golden."""
    found = []
    for system in SYSTEMS:
        mine = members.filter(pl.col("system") == system)
        for field in config.systems[system].receives:
            # Two columns at a time: joining every field of every record at once doubles the estate.
            pair = mine.select("record_id", "cluster", field).join(
                golden.select("cluster", pl.col(field).alias("_golden")), on="cluster")
            differs = pl.col("_golden").is_not_null() & pl.col(field).ne_missing(pl.col("_golden"))
            found.append(pair.filter(differs).select(pl.lit(system).alias("system"), "record_id",
                                                     pl.lit(field).alias("field"), pl.col("_golden").alias("value")))
    return pl.concat(found)


def _outbox(corrections: pl.DataFrame) -> pl.DataFrame:
    """One row per record to correct, keyed by a hash of what it corrects (the idempotency key)."""
    rows = corrections.group_by("system", "record_id").agg(pl.struct("field", "value").alias("values"))
    key = pl.concat_str("system", "record_id", pl.col("values").list.eval(
        pl.element().struct.field("field") + "=" + pl.element().struct.field("value")).list.join("|"))
    return rows.with_columns(key.hash().alias("idempotency_key"))


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
