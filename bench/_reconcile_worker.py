"""One bench size, timed stage by stage in a fresh process (so its peak memory is its own).

``python -m bench._reconcile_worker DIRECTORY`` prints the figures as JSON.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import polars as pl

from bench._stages import Stages
from hub.config import load_config
from mappings.customer import CUSTOMER_FIELDS
from mappings.engine import load_spec
from mappings.frames import map_frame, shutdown_workers
from reconciliation.diff import correction_keys, differing
from reconciliation.matching import Linker
from reconciliation.matching.evaluation import pairwise_scores
from reconciliation.survivorship import golden_frame
from reconciliation.survivorship_rules import rule_named

SYSTEMS = ("crm", "accounting", "erp")
# Columns with few distinct values held as categoricals: 4 bytes a value instead of a 16-byte view.
FEW_VALUES = dict.fromkeys(["system", "legal_form", "postal_code", "country", "payment_terms_days", "credit_limit",
                            "registry_status"], pl.Categorical)


def main(directory: Path) -> dict[str, float]:
    config = load_config()
    stages = Stages()
    quarantined: list[int] = []
    # One file at a time, one contiguous block per system: only one system is ever held twice.
    records = pl.concat([pl.concat([_map(pl.read_parquet(path), s, quarantined)
                                    for path in sorted(directory.glob(f"{s}-*.parquet"))], rechunk=True)
                         for s in SYSTEMS], rechunk=False)
    shutdown_workers()
    stages.lap("read + map")
    workers_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    result = Linker(config.matching).link(records.drop("source_hash"))
    stages.lap("match")
    members = _members(records, result.clusters)
    del records  # the members carry the same columns
    rules = {f: rule_named(r.rule, r.sources) for f in CUSTOMER_FIELDS
             for r in [config.survivorship.rule_for(f)]}
    golden = golden_frame(members, rules, CUSTOMER_FIELDS)
    stages.lap("survivorship")
    carries = {s: set(load_spec(config.systems[s].mapping).fields) for s in SYSTEMS}
    receives = {s: config.systems[s].receives for s in SYSTEMS}
    found = differing(members, golden, CUSTOMER_FIELDS, receives, carries)
    stages.lap("diff")
    outbox = _outbox(members, found)
    stages.lap("outbox")
    figures = stages.done()
    truth = pl.read_parquet(sorted(directory.glob("truth-*.parquet")))
    scores = pairwise_scores(result.clusters, truth)
    figures.update({"mapping workers' peak GB (each)": workers_gb, "records mapped": members.height,
                    "records quarantined": sum(quarantined), "candidate pairs": result.stats.get("pairs", 0),
                    "golden records": golden.height, "differences (fields)": found.height,
                    "corrections (fields)": found["correct"].sum(),
                    "outbox rows": outbox.height, "review candidates": result.candidates.height,
                    # in per cent: the bench prints two decimals
                    "precision %": 100 * scores.precision, "recall %": 100 * scores.recall,
                    "F1 %": 100 * scores.f1})
    return figures


def _map(raw: pl.DataFrame, system: str, quarantined: list[int]) -> pl.DataFrame:
    """The system's mapping spec run by the hub's frame engine (mappings.frames), both cores."""
    spec = load_spec(system)
    # A hash of the raw row stands in for the staged content hash (the stage step computes it).
    raw = raw.with_columns(raw.hash_rows().alias("\x00source_hash"))  # UInt64: a quarter of its text
    mapped = map_frame(spec, raw, workers=2)
    quarantined.append(mapped.quarantined.height)
    hashes = raw.select(pl.col(spec.record_id).alias("record_id"), pl.col("\x00source_hash").alias("source_hash"))
    return mapped.records.join(hashes, on="record_id", maintain_order="left").select(
        pl.lit(system).alias("system"), "record_id", *CUSTOMER_FIELDS, "source_hash").cast(FEW_VALUES)


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


def _outbox(members: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    """One row per record to correct, keyed as the hub keys its outbox."""
    return correction_keys(found.filter("correct").select("row", "field", "golden"),
                           members.select("row", "system", "record_id", pl.col("source_hash").alias("state")))


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
