"""Did training run away? Signs read off a trained model and the links it would draw.

EM left free on candidate pairs can learn "shares a block" as "is a match" (FEBRL4's persons
without their identifier: every candidate pair linked). Bounds make that harder
(``fellegi_sunter.Bounds``); these checks catch what gets through, so that the engine falls
back to the untrained parameters and says why, instead of linking a whole block into one.
Each check is a few vectorized operations over the pairs (no loop per pair).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from reconciliation.matching.blocking import ROW
from reconciliation.matching.clustering import connected_components
from reconciliation.matching.fellegi_sunter import Bounds, Model
from reconciliation.matching.settings import MatchSettings

MIN_BLOCK = 10  # records: a smaller block held by one cluster is an entity, not a collapse
_FLAT_BITS = 0.5  # no level of any comparison weighs more than this: m ≈ u everywhere


def collapse_signs(settings: MatchSettings, model: Model, bounds: Bounds, frame: pl.DataFrame,
                   pairs: pl.DataFrame, gammas: pl.DataFrame) -> list[str]:
    """Why the model looks collapsed (empty: it does not). The match share is held against its
    bound only where the keys or the records set it (``Bounds.from_data``)."""
    signs = []
    if bounds.from_data and model.wanted is not None and model.wanted > bounds.high:
        signs.append(f"EM drove the match share to {model.wanted:.1%} of candidate pairs, past its "
                     f"bound of {bounds.high:.1%}")
    if model.m and all(abs(w) < _FLAT_BITS for name in model.m for w in model.bayes_factors(name)):
        signs.append("m ≈ u for every comparison level: the model tells matches from nothing")
    linked = (model.match_probability(gammas) >= settings.thresholds.link) if pairs.height else None
    share = float(linked.mean() or 0.0) if linked is not None else 0.0
    if bounds.from_data and share > bounds.high:
        signs.append(f"{share:.1%} of candidate pairs would link, more than can be matches ({bounds.high:.1%})")
    swallowed, blocks = swallowed_blocks(settings, frame, pairs.filter(linked) if linked is not None else pairs)
    if blocks and swallowed * 2 > blocks:
        signs.append(f"one cluster would hold more than {settings.training.swallow_share:.0%} of the records "
                     f"in {swallowed} of {blocks} blocks of {MIN_BLOCK} or more records")
    return signs


def swallowed_blocks(settings: MatchSettings, frame: pl.DataFrame, links: pl.DataFrame) -> tuple[int, int]:
    """(blocks a single cluster of ``links`` swallows, blocks of MIN_BLOCK records or more)."""
    labels = pl.Series("_c", connected_components(frame.height, links["l"].to_numpy(), links["r"].to_numpy())
                       if links.height else np.arange(frame.height))
    swallowed = blocks = 0
    for rule in settings.blocking:
        s, b = _swallowed(frame, labels, list(rule), settings)
        swallowed, blocks = swallowed + s, blocks + b
    return swallowed, blocks


def _swallowed(frame: pl.DataFrame, labels: pl.Series, rule: Sequence[str],
               settings: MatchSettings) -> tuple[int, int]:
    keyed = frame.select(ROW, *rule).drop_nulls(list(rule))
    keyed = (keyed.select(pl.struct(list(rule)).hash().alias("_key"), labels.gather(keyed[ROW]).alias("_c"))
             .filter(pl.len().over("_key").is_between(MIN_BLOCK, settings.max_block_size)))
    sizes = (keyed.group_by("_key", "_c").len().group_by("_key")
             .agg(pl.col("len").sum().alias("_n"), pl.col("len").max().alias("_top")))
    share = settings.training.swallow_share
    return int((sizes["_top"] > share * sizes["_n"]).sum()), sizes.height
