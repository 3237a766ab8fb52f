"""Comparisons: for each candidate pair, the agreement level of each configured aspect.

A level is a small class with one method, ``agrees(left, right) -> bool Series``, over
whole columns of pairs at once (rapidfuzz's ``cpdist`` scores millions of string pairs
in C++ on every core). A comparison gives each pair the index of the first level it
satisfies, counting down from the strongest (len(levels)) to 0 ("else"); null when
either side is empty, which Fellegi-Sunter reads as "no evidence".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import polars as pl
from rapidfuzz import distance, fuzz, process

from reconciliation.matching.settings import ComparisonSpec, LevelSpec


class Level(Protocol):
    def agrees(self, left: pl.Series, right: pl.Series) -> pl.Series: ...


class Exact:
    def agrees(self, left: pl.Series, right: pl.Series) -> pl.Series:
        return (left == right).fill_null(False)


@dataclass(frozen=True)
class JaroWinkler:
    min: float

    def agrees(self, left: pl.Series, right: pl.Series) -> pl.Series:
        return _similarity(left, right, distance.JaroWinkler.normalized_similarity, 1.0) >= self.min


@dataclass(frozen=True)
class TokenSet:
    """Token-set ratio: one name's words contained in the other's count as agreement."""

    min: float

    def agrees(self, left: pl.Series, right: pl.Series) -> pl.Series:
        return _similarity(left, right, fuzz.token_set_ratio, 100.0) >= self.min


@dataclass(frozen=True)
class EditDistance:
    """At most ``max_edits`` edits, a swap of neighbours counting as one (optimal string alignment).

    Tells a typo ("dervovýroba", one swap) from a sister company's name ("… 2", "…ek": two edits
    or more), which similarity ratios rank alike.
    """

    max_edits: int

    def agrees(self, left: pl.Series, right: pl.Series) -> pl.Series:
        edits = process.cpdist(left.cast(pl.String).fill_null("").to_list(),
                               right.cast(pl.String).fill_null("").to_list(),
                               scorer=distance.OSA.distance, workers=-1)
        return pl.Series(edits, dtype=pl.Int64) <= self.max_edits


@dataclass(frozen=True)
class NumericDistance:
    max_abs: float

    def agrees(self, left: pl.Series, right: pl.Series) -> pl.Series:
        gap = (left.cast(pl.Float64, strict=False) - right.cast(pl.Float64, strict=False)).abs()
        return (gap <= self.max_abs).fill_null(False)


@dataclass(frozen=True)
class DateDistance:
    max_days: int

    def agrees(self, left: pl.Series, right: pl.Series) -> pl.Series:
        days = (_as_date(left) - _as_date(right)).dt.total_days().abs()
        return (days <= self.max_days).fill_null(False)


def build_level(spec: LevelSpec) -> Level:
    if spec.kind == "exact":
        return Exact()
    if spec.kind == "jaro_winkler":
        return JaroWinkler(spec.min or 0.0)
    if spec.kind == "token_set":
        return TokenSet(spec.min or 0.0)
    if spec.kind == "edit_distance":
        return EditDistance(spec.max_edits or 0)
    if spec.kind == "numeric":
        return NumericDistance(spec.max_abs or 0.0)
    return DateDistance(spec.max_days or 0)


@dataclass(frozen=True)
class Comparison:
    name: str
    column: str
    levels: tuple[tuple[str, Level], ...]  # (column, level), strongest first

    @classmethod
    def from_spec(cls, spec: ComparisonSpec) -> Comparison:
        return cls(spec.name, spec.column,
                   tuple((lv.column or spec.column, build_level(lv)) for lv in spec.levels))

    @property
    def n_levels(self) -> int:
        return len(self.levels) + 1  # with "else"

    def gamma(self, left: pl.DataFrame, right: pl.DataFrame) -> pl.Series:
        """Per pair: len(levels) for the strongest level down to 0 for "else"; null: no evidence."""
        result = pl.Series(self.name, [0] * left.height, dtype=pl.Int8)
        for rank, (column, level) in enumerate(reversed(self.levels), start=1):
            agree = level.agrees(left[column], right[column])
            result = pl.select(pl.when(agree).then(pl.lit(rank, pl.Int8)).otherwise(result)).to_series()
        missing = left[self.column].is_null() | right[self.column].is_null()
        return pl.select(pl.when(missing).then(None).otherwise(result)).to_series().alias(self.name)


CHUNK = 250_000  # pairs compared at once: both sides' strings of a chunk are in memory together


def compare(frame: pl.DataFrame, left_rows: pl.Series, right_rows: pl.Series,
            comparisons: Sequence[Comparison]) -> pl.DataFrame:
    """The comparison vector (one Int8 column per comparison) of every pair (left_rows[i], right_rows[i])."""
    columns = sorted({c for comp in comparisons for c in [comp.column, *(col for col, _ in comp.levels)]})
    values = frame.select(columns)
    parts = []
    for start in range(0, max(len(left_rows), 1), CHUNK):
        left = values[left_rows.slice(start, CHUNK)]
        right = values[right_rows.slice(start, CHUNK)]
        parts.append(pl.DataFrame([comp.gamma(left, right) for comp in comparisons]))
    return pl.concat(parts)


def _similarity(left: pl.Series, right: pl.Series, scorer: object, scale: float) -> pl.Series:
    scores = process.cpdist(left.cast(pl.String).fill_null("").to_list(),
                            right.cast(pl.String).fill_null("").to_list(),
                            scorer=scorer, workers=-1)
    return pl.Series(scores, dtype=pl.Float64) / scale


def _as_date(series: pl.Series) -> pl.Series:
    if series.dtype in (pl.Date, pl.Datetime):
        return series.cast(pl.Date)
    return series.cast(pl.String).str.to_date(strict=False)
