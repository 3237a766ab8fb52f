"""Blocking: which pairs are worth comparing, as polars joins on blocking keys.

A pair is a candidate when both records share every column of at least one blocking
rule. Only pairs with at least one "open" record (one the deterministic keys could not
settle) are produced: records already linked by a key are not compared again, which is
what keeps a million records tractable. A key shared by more than ``max_block_size``
records is skipped, as it tells nothing (a city alone, an empty-ish name).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

ROW, OPEN = "_row", "_open"


def candidate_pairs(frame: pl.DataFrame, rules: Sequence[Sequence[str]],
                    max_block_size: int) -> tuple[pl.DataFrame, dict[str, int]]:
    """Distinct pairs (l < r, row numbers) from every rule, and how many keys were skipped."""
    found: list[pl.DataFrame] = []
    skipped = 0
    for rule in rules:
        pairs, too_big = _pairs_for(frame, list(rule), max_block_size)
        found.append(pairs)
        skipped += too_big
    if not found:
        return _empty(), {"skipped_block_keys": 0}
    pairs = pl.concat(found).unique()
    return pairs, {"skipped_block_keys": skipped}


def _pairs_for(frame: pl.DataFrame, columns: list[str], max_block_size: int) -> tuple[pl.DataFrame, int]:
    # Joined on one 64-bit hash of the key, not on its text: a fraction of the memory. Two keys
    # sharing a hash only add a candidate pair, which the comparisons then score on the values.
    keyed = (frame.lazy().select(ROW, OPEN, *columns).drop_nulls(columns)
             .select(ROW, OPEN, pl.struct(columns).hash().alias("_key"))
             .with_columns(pl.len().over("_key").alias("_size")))
    too_big = keyed.filter(pl.col("_size") > max_block_size).select("_key").unique().collect().height
    keyed = keyed.filter(pl.col("_size") <= max_block_size).drop("_size")
    opened = keyed.filter(pl.col(OPEN)).select(pl.col(ROW).alias("_left"), "_key")
    joined = opened.join(keyed.select(ROW, OPEN, "_key"), on="_key", how="inner")
    # Two open records meet twice (a with b, b with a): keep one of the two.
    once = (pl.col("_left") < pl.col(ROW)) | ((pl.col("_left") > pl.col(ROW)) & ~pl.col(OPEN))
    pairs = (joined.filter(once)
             .select(pl.min_horizontal("_left", ROW).alias("l"), pl.max_horizontal("_left", ROW).alias("r"))
             .unique())
    return pairs.collect(engine="streaming"), too_big


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={"l": pl.UInt32, "r": pl.UInt32})
