"""What the match model learned and how it weighs pairs, as an HTML page of inline SVG charts.

Three views (Splink's match-weights and waterfall charts, pared down): per comparison, the
estimated m and u of each level and the weight (log2 m/u) it gives; the histogram of the
candidate pairs' match weights with the review and link thresholds; and, for a few sample
pairs (near each threshold, one clear match), the waterfall of what each comparison added.
The numbers become coordinates here; the template (templates/match_explain.html) draws them.
Nothing is loaded from the network: the page is opened from a file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape

from reconciliation.matching.blocking import ROW
from reconciliation.matching.engine import LEVEL, LinkResult
from reconciliation.matching.fellegi_sunter import Model
from reconciliation.matching.settings import ComparisonSpec, LevelSpec, MatchSettings

_HIST_RANGE = 40  # bits either side of 0 the histogram shows; pairs beyond go to its end bins
_BAR = 150  # px of a probability 1 in the m/u bars
_LABELS = 180  # px of the level labels left of the bars


@dataclass(frozen=True)
class LevelBar:
    label: str
    m: float
    u: float
    weight: float  # log2(m / u)
    m_width: float
    u_width: float
    weight_x: float  # where the weight bar starts
    weight_width: float


@dataclass(frozen=True)
class ComparisonChart:
    name: str
    column: str
    levels: tuple[LevelBar, ...]
    weight_zero: float  # x of weight 0
    height: int
    bars_x: float = _LABELS  # x where the m and u bars start


@dataclass(frozen=True)
class Histogram:
    bars: tuple[tuple[float, float, float, str, str], ...]  # x, y, height, color, tooltip
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]
    thresholds: tuple[tuple[float, str], ...]  # x, label
    width: int
    height: int
    base: float  # y of the x axis
    bin: float  # px of one bit


@dataclass(frozen=True)
class Step:
    name: str
    level: str
    value: float  # bits this step adds
    x: float
    y: float
    height: float
    color: str
    width: float


@dataclass(frozen=True)
class Waterfall:
    title: str
    records: tuple[str, str]
    probability: float
    weight: float
    steps: tuple[Step, ...]
    values: tuple[tuple[str, str, str, str], ...]  # comparison, left value, right value, level
    thresholds: tuple[tuple[float, str], ...]  # y, label
    zero: float
    width: int
    height: int


@dataclass(frozen=True)
class Explained:
    warnings: list[str]
    prior: float
    history: list[float]
    pairs: int
    records: int
    link: float
    review: float
    comparisons: list[ComparisonChart]
    histogram: Histogram | None
    waterfalls: list[Waterfall]


def explain(settings: MatchSettings, result: LinkResult) -> Explained:
    """The page's data for a result linked with ``explain=True``."""
    model, pairs = result.model, result.pairs
    t = settings.thresholds
    if model is None or pairs is None or result.records is None:
        return Explained(list(result.training_warnings), 0.0, [], 0, result.clusters.height, t.link, t.review,
                         [], None, [])
    cap = max((abs(w) for name in model.m for w in model.bayes_factors(name)), default=1.0) or 1.0
    charts = [comparison_chart(spec, model, cap) for spec in settings.comparisons if spec.name in model.m]
    samples = sample_pairs(pairs, bits(t.link), bits(t.review))
    falls = [waterfall(title, row, settings, model, result.records) for title, row in samples]
    return Explained(list(result.training_warnings), model.prior, list(model.history), pairs.height,
                     result.records.height, t.link, t.review, charts, histogram(pairs["weight"], t.link, t.review),
                     falls)


def render(explained: Explained) -> str:
    env = Environment(loader=PackageLoader("reconciliation", "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("match_explain.html").render(page=explained)


def bits(probability: float) -> float:
    """A match probability as a match weight: log2 of its odds."""
    return math.log2(probability / (1 - probability))


def level_labels(spec: ComparisonSpec) -> list[str]:
    """Labels by level index as the model counts them: 0 "else", then weakest to strongest."""
    return ["else", *(_level_label(level, spec.column) for level in reversed(spec.levels))]


def _level_label(level: LevelSpec, column: str) -> str:
    detail = {"jaro_winkler": f" ≥ {level.min}", "token_set": f" ≥ {level.min}", "numeric": f" ≤ {level.max_abs}",
              "date": f" ≤ {level.max_days} days", "edit_distance": f" ≤ {level.max_edits}"}.get(level.kind, "")
    on = f" on {level.column}" if level.column and level.column != column else ""
    return f"{level.kind}{detail}{on}"


def comparison_chart(spec: ComparisonSpec, model: Model, cap: float) -> ComparisonChart:
    labels, factors = level_labels(spec), model.bayes_factors(spec.name)
    zero, half = 460.0, 90.0
    bars = []
    for i in reversed(range(len(labels))):  # strongest first
        w = factors[i]
        width = round(min(abs(w) / cap, 1.0) * half, 1)
        bars.append(LevelBar(labels[i], model.m[spec.name][i], model.u[spec.name][i], w,
                             round(model.m[spec.name][i] * _BAR, 1), round(model.u[spec.name][i] * _BAR, 1),
                             zero if w >= 0 else zero - width, width))
    return ComparisonChart(spec.name, spec.column, tuple(bars), zero, 24 + 34 * len(bars))


def histogram(weights: pl.Series, link: float, review: float, width: int = 900, height: int = 260) -> Histogram:
    """Pairs per 1-bit bin of match weight, on a log scale (a few pairs near a threshold show
    next to thousands far from it); the bins between the thresholds are the review band."""
    left, top, bottom = 56, 16, 34
    plot_w, plot_h = width - left - 16, height - top - bottom
    binned = weights.clip(-_HIST_RANGE, _HIST_RANGE).floor().cast(pl.Int64).value_counts()
    counts = dict(zip(binned[binned.columns[0]].to_list(), binned["count"].to_list(), strict=True))
    lo = min([*counts, math.floor(bits(review)), -5])
    hi = max([*counts, math.ceil(bits(link)), 5]) + 1
    step, top_count = plot_w / (hi - lo), max(counts.values(), default=1)
    scale = math.log10(top_count + 1)

    def x(w: float) -> float:
        return round(left + (w - lo) * step, 1)

    def y_height(count: int) -> float:
        return round(math.log10(count + 1) / scale * plot_h, 1) if scale else 0.0

    bars = []
    for b, count in sorted(counts.items()):
        h = y_height(count)
        color = "#2e8b57" if b >= bits(link) else "#e0a100" if b + 1 > bits(review) else "#8a94a3"
        bars.append((x(b), round(top + plot_h - h, 1), h, color, f"weight {b} to {b + 1}: {count} pairs"))
    x_ticks = tuple((x(w), str(w)) for w in range(lo, hi + 1) if w % 5 == 0)
    y_ticks = tuple((round(top + plot_h - y_height(c), 1), f"{c:,}") for c in _powers(top_count))
    marks = ((x(bits(review)), f"review ≥ {review}"), (x(bits(link)), f"link ≥ {link}"))
    return Histogram(tuple(bars), x_ticks, y_ticks, marks, width, height, top + plot_h, round(step, 1))


def _powers(top: int) -> list[int]:
    return [10 ** k for k in range(0, int(math.log10(max(top, 1))) + 1)]


def sample_pairs(pairs: pl.DataFrame, link: float, review: float) -> list[tuple[str, dict]]:
    """A pair nearest each threshold and the clearest match, three different pairs where there are."""
    if not pairs.height:
        return []
    chosen: list[tuple[str, dict]] = []
    seen: set[tuple[int, int]] = set()
    for title, order in (("nearest the link threshold", (pl.col("weight") - link).abs()),
                         ("nearest the review threshold", (pl.col("weight") - review).abs()),
                         ("a clear match", -pl.col("weight"))):
        nearest = pairs.sort(order, pl.col("l"), pl.col("r")).head(len(seen) + 1).rows(named=True)
        row = next((r for r in nearest if (r["l"], r["r"]) not in seen), None)
        if row is not None:  # the next nearest when the nearest is shown already
            seen.add((row["l"], row["r"]))
            chosen.append((title, row))
    return chosen


def waterfall(title: str, row: dict, settings: MatchSettings, model: Model, records: pl.DataFrame,
              width: int = 900, height: int = 280) -> Waterfall:
    """Prior, then each comparison's weight for this pair's level, then the total."""
    prior = bits(model.prior)
    parts: list[tuple[str, str, float]] = [("prior (λ)", f"{model.prior:.4g}", prior)]
    values = []
    left_rec, right_rec = (records.filter(pl.col(ROW) == row[side]).row(0, named=True) for side in ("l", "r"))
    for spec in settings.comparisons:
        level = row.get(f"{LEVEL}{spec.name}")
        label = "no evidence" if level is None else level_labels(spec)[level]
        parts.append((spec.name, label, 0.0 if level is None else model.bayes_factors(spec.name)[level]))
        values.append((spec.name, _shown(left_rec.get(spec.column)), _shown(right_rec.get(spec.column)), label))
    steps, zero, marks = _steps(parts, row["weight"], settings, width, height)
    names = (f"{left_rec['system']}:{left_rec['record_id']}", f"{right_rec['system']}:{right_rec['record_id']}")
    return Waterfall(title, names, row["probability"], row["weight"], steps, tuple(values), marks, zero,
                     width, height)


def _steps(parts: Sequence[tuple[str, str, float]], total: float, settings: MatchSettings, width: int,
           height: int) -> tuple[tuple[Step, ...], float, tuple[tuple[float, str], ...]]:
    top, bottom, left, right = 14, 60, 56, 90  # the thresholds' labels right of the plot
    plot_h = height - top - bottom
    running, ends = 0.0, [0.0]
    for _, _, value in parts:
        running += value
        ends.append(running)
    link, review = bits(settings.thresholds.link), bits(settings.thresholds.review)
    lo, hi = min([*ends, review, 0.0]) - 1, max([*ends, link, 0.0]) + 1

    def y(w: float) -> float:
        return round(top + (hi - w) / (hi - lo) * plot_h, 1)

    gap = (width - left - right) / (len(parts) + 1)
    steps, before = [], 0.0
    for i, (name, level, value) in enumerate(parts):
        after = before + value
        color = "#8a94a3" if value == 0 else "#2e8b57" if value > 0 else "#b3261e"
        steps.append(Step(name, level, value, round(left + i * gap + 4, 1), y(max(before, after)),
                          max(round(abs(y(after) - y(before)), 1), 1.0), color, round(gap - 8, 1)))
        before = after
    steps.append(Step("total", f"p = {2 ** total / (1 + 2 ** total):.4f}", total, round(left + len(parts) * gap + 4, 1),
                      y(max(total, 0.0)), max(round(abs(y(total) - y(0.0)), 1), 1.0), "#2f6db5", round(gap - 8, 1)))
    marks = ((y(review), f"review {settings.thresholds.review}"), (y(link), f"link {settings.thresholds.link}"))
    return tuple(steps), y(0.0), marks


def _shown(value: object) -> str:
    return "—" if value is None else str(value)
