"""Fellegi-Sunter: m and u probabilities per comparison level, a prior, and EM to estimate them.

u (how often non-matches agree at a level) comes from random pairs, which are almost
all non-matches; m (how often matches agree) starts from configured values or from
pairs the deterministic keys linked (labelled pairs), and EM refines m and the prior on
the candidate pairs with u held fixed, as Splink does. EM runs over the distinct
comparison patterns with their counts, not over every pair, so it costs nothing at scale.

EM is bounded: λ stays in a band (``Bounds``, from the keys and the records, see
``training``), no level's u is below a floor and no level weighs more than a cap, so that
pairs which merely share a blocking key cannot become "the matches".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from reconciliation.matching.comparisons import Comparison, compare

_FLOOR = 1e-6


@dataclass
class Model:
    """m[name][level] and u[name][level] (level 0 = "else"), and the prior λ."""

    m: dict[str, list[float]]
    u: dict[str, list[float]]
    prior: float
    history: list[float] = field(default_factory=list)  # λ after each EM iteration
    wanted: float | None = None  # λ the last EM iteration reached before the bounds held it
    warnings: list[str] = field(default_factory=list)  # why training fell back, for the run
    monotone: bool = False  # TrainingSpec.monotone_levels: a stronger level never weighs less

    def bayes_factors(self, name: str) -> list[float]:
        factors = [math.log2(max(m, _FLOOR) / max(u, _FLOOR)) for m, u in zip(self.m[name], self.u[name], strict=True)]
        if self.monotone:  # levels 1.. from weakest to strongest; "else" (0) keeps its own
            for level in range(2, len(factors)):
                factors[level] = max(factors[level], factors[level - 1])
        return factors

    def match_weight(self, gammas: pl.DataFrame) -> pl.Series:
        """log2 of the posterior odds: prior odds plus each comparison's Bayes factor."""
        prior = math.log2(self.prior / (1 - self.prior))
        terms = [pl.col(name).replace_strict(dict(enumerate(self.bayes_factors(name))),
                                             default=0.0, return_dtype=pl.Float64).fill_null(0.0)
                 for name in self.m]
        return gammas.select(pl.sum_horizontal(*terms) + prior).to_series().alias("weight")

    def match_probability(self, gammas: pl.DataFrame) -> pl.Series:
        weight = self.match_weight(gammas)
        return (2.0 ** weight / (1 + 2.0 ** weight)).alias("probability")


def default_m(comparison: Comparison) -> list[float]:
    """Without data: the strongest level carries most matches, "else" very few."""
    middle = comparison.n_levels - 2
    rest = [0.25 / middle] * middle if middle else []
    return [0.05, *rest, 0.7] if middle else [0.1, 0.9]


def level_frequencies(gammas: pl.DataFrame, comparisons: Sequence[Comparison]) -> dict[str, list[float]]:
    """Share of each level among the pairs with evidence, with a pseudo-count so none is zero."""
    out: dict[str, list[float]] = {}
    for comp in comparisons:
        counts = gammas[comp.name].drop_nulls().value_counts()
        seen = dict(zip(counts[comp.name].to_list(), counts["count"].to_list(), strict=True))
        total = sum(seen.values()) + comp.n_levels
        out[comp.name] = [(seen.get(level, 0) + 1) / total for level in range(comp.n_levels)]
    return out


def estimate_u(frame: pl.DataFrame, comparisons: Sequence[Comparison], n_pairs: int,
               seed: int) -> dict[str, list[float]]:
    """u from random pairs: agreement among records that are (nearly all) different entities."""
    n = frame.height
    if n < 2:
        return {c.name: [1 / c.n_levels] * c.n_levels for c in comparisons}
    rows = pl.int_range(0, n, eager=True, dtype=pl.UInt32)
    left = rows.sample(n_pairs, with_replacement=True, seed=seed)
    right = rows.sample(n_pairs, with_replacement=True, seed=seed + 1)
    keep = left != right
    return level_frequencies(compare(frame, left.filter(keep), right.filter(keep), comparisons), comparisons)


@dataclass(frozen=True)
class Bounds:
    """The band λ stays in, the floor under every u and the cap on a level's weight (bits)."""

    low: float = _FLOOR
    high: float = 1 - _FLOOR
    u_floor: float = _FLOOR
    max_weight: float = math.inf
    # True when the keys or the records set ``high`` (not a configured ceiling): only then does
    # a model past it tell of a run-away; a small, tightly blocked list may link nearly every pair.
    from_data: bool = False


def floor_u(u: dict[str, list[float]], floor: float) -> dict[str, list[float]]:
    """No level's u below ``floor`` (then shares again): a level random pairs never reached is
    rare, not impossible, and its weight must not grow without end."""
    out = {}
    for name, levels in u.items():
        raised = [max(v, floor) for v in levels]
        out[name] = [v / sum(raised) for v in raised]
    return out


def cap_m(model: Model, max_weight: float) -> None:
    """Hold every level's m within 2**±max_weight of its u: no level weighs more than the cap."""
    if math.isinf(max_weight):
        return
    for name, levels in model.m.items():
        u = model.u[name]
        model.m[name] = [min(max(m, u_ * 2 ** -max_weight), u_ * 2 ** max_weight)
                         for m, u_ in zip(levels, u, strict=True)]


def expectation_maximisation(gammas: pl.DataFrame, model: Model, iterations: int,
                             fix_prior: bool = False, fix_m: bool = False,
                             bounds: Bounds = Bounds(), fix_u: bool = True) -> Model:
    """Refine m and λ on the candidate pairs, λ within the bounds; u as estimated unless
    ``fix_u`` is False: then u is the candidates' own non-matches' (agreement within a block)."""
    names = list(model.m)
    patterns = gammas.group_by(names).len().rows()
    cap_m(model, bounds.max_weight)
    for _ in range(iterations):
        weights = [(row[:-1], row[-1], _posterior(model, names, row[:-1])) for row in patterns]
        if not fix_u:
            unlike = [(levels, count, 1 - p) for levels, count, p in weights]
            model.u = floor_u({name: _new_m(unlike, i, len(model.u[name])) for i, name in enumerate(names)},
                              bounds.u_floor)
        if not fix_m:
            model.m = {name: _new_m(weights, i, len(model.m[name])) for i, name in enumerate(names)}
            cap_m(model, bounds.max_weight)
        if not fix_prior:
            model.wanted = sum(count * p for _, count, p in weights) / sum(c for _, c, _ in weights)
            model.prior = min(max(model.wanted, bounds.low), bounds.high)
        model.history.append(model.prior)
    return model


def _posterior(model: Model, names: list[str], levels: Sequence[int | None]) -> float:
    log_m, log_u = math.log(model.prior), math.log(1 - model.prior)
    for name, level in zip(names, levels, strict=True):
        if level is not None:
            log_m += math.log(max(model.m[name][level], _FLOOR))
            log_u += math.log(max(model.u[name][level], _FLOOR))
    top = max(log_m, log_u)
    return math.exp(log_m - top) / (math.exp(log_m - top) + math.exp(log_u - top))


def _new_m(weights: list[tuple[tuple, int, float]], index: int, n_levels: int) -> list[float]:
    mass = [1e-3] * n_levels  # a small pseudo-count keeps every level possible
    for levels, count, p in weights:
        if levels[index] is not None:
            mass[levels[index]] += count * p
    total = sum(mass)
    return [v / total for v in mass]
