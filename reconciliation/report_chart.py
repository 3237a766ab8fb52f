"""Geometry for the report's trend charts; the template draws them as inline SVG.

The report is opened from a file share on machines without internet, so no chart library
from a CDN: the numbers become coordinates here and a Jinja macro turns them into SVG.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

PALETTE = ("#2f6db5", "#c2571a", "#2e8b57", "#8a4fb0", "#b3261e", "#5f6b7a")


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    points: str  # "x,y x,y ..." for <polyline>, gaps left out
    dots: tuple[tuple[float, float, str], ...]  # x, y, tooltip


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    top: int
    plot_height: int
    series: tuple[Series, ...]
    y_ticks: tuple[tuple[float, str], ...]  # y, label
    x_labels: tuple[tuple[float, str], ...]  # x, label


def agreement_chart(labels: Sequence[str], values: Mapping[str, Sequence[float | None]],
                    width: int = 720, height: int = 220,
                    percent: Callable[[float], str] = lambda v: f"{v * 100:.1f} %") -> LineChart:
    """Agreement (0..1) per system over runs; the y axis starts just below the lowest value
    so that a drop of a few percent is visible instead of hugging the 100 % line."""
    left, top, bottom, right = 48, 12, 34, 110
    plot_w, plot_h = width - left - right, height - top - bottom
    present = [v for seq in values.values() for v in seq if v is not None]
    floor = _floor(min(present, default=1.0))
    step = plot_w / max(len(labels) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return round(left + i * step, 1), round(top + plot_h * (1 - (v - floor) / (1 - floor)), 1)

    series = []
    for n, (name, seq) in enumerate(values.items()):
        dots = tuple((*xy(i, v), f"{name} {labels[i]}: {percent(v)}")
                     for i, v in enumerate(seq) if v is not None)
        series.append(Series(name, PALETTE[n % len(PALETTE)], " ".join(f"{x},{y}" for x, y, _ in dots), dots))
    ticks = tuple((xy(0, t)[1], f"{t * 100:.0f} %") for t in _ticks(floor))
    every = max(1, len(labels) // 6)
    x_labels = tuple((xy(i, 1)[0], label) for i, label in enumerate(labels)
                     if i % every == 0 or i == len(labels) - 1)
    return LineChart(width, height, left, top, plot_h, tuple(series), ticks, x_labels)


def _floor(lowest: float) -> float:
    """A lower bound under the lowest value whose quarter steps are round: 0.92 for 0.97
    (ticks every 2 %), 0.6 for 0.65 (every 10 %), 0.0 for 0.05 (every 25 %)."""
    for bound in (0.96, 0.92, 0.8, 0.6, 0.2):
        if lowest >= bound + 0.01:
            return bound
    return 0.0


def _ticks(floor: float) -> list[float]:
    return [round(floor + (1 - floor) * k / 4, 4) for k in range(5)]


def bar_width(fraction: float, full: int) -> float:
    return round(max(0.0, min(1.0, fraction)) * full, 1)
