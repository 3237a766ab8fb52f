"""Train the Fellegi-Sunter model for one linking job, using the keys as labels where they exist.

Records that carry an exclusive key label the candidate pairs they form: the same key
value is a match, two different values a non-match. Both are found by the same blocking
as the real candidates, so u describes the non-matches a block really holds (sister
companies at one address, similar names in one city), not random pairs, whose agreement
on a near-identical name is almost never seen. Where labels are too few, m falls back to
configured or default values and u to random pairs; EM then estimates the prior (and, with
no labels at all, m and u as well), always inside the band ``share_bounds`` gives λ, so that it
cannot run away (docs/adr/0009-bounded-training.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass

import polars as pl

from reconciliation.matching.blocking import OPEN, ROW, candidate_pairs
from reconciliation.matching.comparisons import Comparison, compare
from reconciliation.matching.fellegi_sunter import (Bounds, Model, cap_m, default_m, estimate_u,
                                                    expectation_maximisation, floor_u, level_frequencies)
from reconciliation.matching.settings import MatchSettings, TrainingSpec

_MIN_LABELLED = 50  # fewer labelled pairs than this: their level shares mean little


@dataclass
class Training:
    """The trained model; the untrained one (its m and u, a plausible λ) to fall back to; λ's band."""

    model: Model
    fallback: Model
    bounds: Bounds


def train(settings: MatchSettings, comparisons: Sequence[Comparison], frame: pl.DataFrame,
          candidates: pl.DataFrame, pairs: pl.DataFrame | None = None) -> Training:
    """``candidates``: the comparison vectors of the pairs to score (for the prior); ``pairs``:
    those pairs' row numbers (l, r), which bound λ by the records they hold."""
    spec = settings.training
    matches, non_matches = labelled_pairs(settings, frame)
    bounds = share_bounds(spec, matches.height, non_matches.height, _records_per_pair(pairs, candidates))
    configured = {c.name: list(c.m) for c in settings.comparisons if c.m is not None}
    m = _levels(frame, matches, comparisons) if spec.m_from_keys else {}
    u = estimate_u(frame, comparisons, spec.u_sample_pairs, spec.seed) | _levels(frame, non_matches, comparisons)
    model = Model(m={c.name: configured.get(c.name) or m.get(c.name) or default_m(c) for c in comparisons},
                  u=floor_u(u, spec.u_floor), prior=spec.prior or 0.5, monotone=spec.monotone_levels)
    cap_m(model, bounds.max_weight)
    fallback = deepcopy(model)
    fallback.prior = spec.prior or _plausible_share(bounds, matches, non_matches)
    if candidates.height >= spec.min_pairs_for_em:
        # With labels, m and u are known: EM only finds the share of matches among candidates.
        # Without, the u of random pairs cannot describe pairs that share a block: EM estimates u
        # too, from the plausible λ (from 0.5 it may settle on "in other suburbs" as the matches).
        fix_u = bool(m or configured) or not bounds.from_data
        model.prior = model.prior if fix_u else fallback.prior
        model = expectation_maximisation(candidates, model, spec.em_iterations,
                                         fix_prior=spec.prior is not None, fix_m=bool(m or configured),
                                         bounds=bounds, fix_u=fix_u)
    return Training(model, fallback, bounds)


def share_bounds(spec: TrainingSpec, matches: int, non_matches: int, records_per_pair: float | None) -> Bounds:
    """λ's band: the settings' floor and ceiling, narrowed by the keys' share of matches among
    the keyed blocked pairs (within key_share_slack) and by how many matches the records can hold."""
    low, high = spec.match_share_floor, spec.match_share_ceiling
    if matches + non_matches >= _MIN_LABELLED:
        share = matches / (matches + non_matches)
        low, high = max(low, share / spec.key_share_slack), min(high, share * spec.key_share_slack)
    if records_per_pair is not None:  # every record in at most matches_per_record matching pairs
        high = min(high, spec.matches_per_record * records_per_pair / 2)
    high = max(high, spec.match_share_floor)
    return Bounds(min(low, high), high, spec.u_floor, spec.max_level_weight,
                  from_data=high < spec.match_share_ceiling)


def _plausible_share(bounds: Bounds, matches: pl.DataFrame, non_matches: pl.DataFrame) -> float:
    """The untrained λ: what the keys say, else half the band's top (a record with one duplicate)."""
    labelled = matches.height + non_matches.height
    if labelled >= _MIN_LABELLED:
        return min(max(matches.height / labelled, bounds.low), bounds.high)
    return max(bounds.high / 2, bounds.low)


def _records_per_pair(pairs: pl.DataFrame | None, candidates: pl.DataFrame) -> float | None:
    if pairs is None or not pairs.height:
        return None
    records = pl.concat([pairs["l"], pairs["r"]]).n_unique()
    return records / candidates.height


def labelled_pairs(settings: MatchSettings, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Blocked pairs among a sample of keyed records: (same key: matches, different key: non-matches)."""
    keys = settings.exclusive_keys
    if not keys:  # no key at all (persons without an identifier): nothing labels a pair
        return _no_pairs(), _no_pairs()
    keyed = frame.select(ROW, *keys).filter(pl.any_horizontal([pl.col(k).is_not_null() for k in keys]))
    sample = keyed.sample(min(keyed.height, settings.training.label_sample), seed=settings.training.seed)
    chosen = frame.with_columns(pl.col(ROW).is_in(sample[ROW].implode()).alias(OPEN))
    pairs, _ = candidate_pairs(chosen, settings.blocking, settings.max_block_size)
    labelled = frame.select(keys).select(
        pairs["l"].alias("l"), pairs["r"].alias("r"),
        *[pl.col(k).gather(pairs["l"]).alias(f"{k}_l") for k in keys],
        *[pl.col(k).gather(pairs["r"]).alias(f"{k}_r") for k in keys]) if pairs.height else None
    if labelled is None:
        return pairs, pairs
    both = [pl.col(f"{k}_l").is_not_null() & pl.col(f"{k}_r").is_not_null() for k in keys]
    agree = pl.any_horizontal([b & (pl.col(f"{k}_l") == pl.col(f"{k}_r")) for b, k in zip(both, keys)])
    disagree = pl.any_horizontal([b & (pl.col(f"{k}_l") != pl.col(f"{k}_r")) for b, k in zip(both, keys)])
    return (labelled.filter(agree & ~disagree).select("l", "r"), labelled.filter(disagree).select("l", "r"))


def _no_pairs() -> pl.DataFrame:
    return pl.DataFrame(schema={"l": pl.UInt32, "r": pl.UInt32})


def _levels(frame: pl.DataFrame, pairs: pl.DataFrame,
            comparisons: Sequence[Comparison]) -> dict[str, list[float]]:
    """Level shares per comparison, only for comparisons with enough labelled pairs to count."""
    if pairs.height < _MIN_LABELLED:
        return {}
    gammas = compare(frame, pairs["l"], pairs["r"], comparisons)
    shares = level_frequencies(gammas, comparisons)
    return {c.name: shares[c.name] for c in comparisons
            if gammas[c.name].drop_nulls().len() >= _MIN_LABELLED}
