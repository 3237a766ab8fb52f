"""The explain page's data: levels named in the model's order, thresholds as weights, samples."""

from __future__ import annotations

import polars as pl
import pytest

from reconciliation.matching import Linker
from reconciliation.matching.explain import bits, explain, level_labels, render, sample_pairs
from tests.reconciliation.persons import person_frame, person_settings


def test_levels_are_named_in_the_order_the_model_counts_them() -> None:
    given = person_settings().comparisons[0]
    assert level_labels(given) == ["else", "jaro_winkler ≥ 0.9", "exact"]


def test_a_threshold_is_drawn_where_its_weight_is() -> None:
    assert bits(0.5) == 0 and bits(0.9) == pytest.approx(3.1699, abs=1e-4)


def test_samples_are_three_different_pairs_even_when_one_is_nearest_both_thresholds() -> None:
    pairs = pl.DataFrame({"l": [0, 1, 2, 3], "r": [9, 9, 9, 9], "weight": [2.0, 2.1, -20.0, 30.0]})
    samples = sample_pairs(pairs, link=2.0, review=2.0)
    assert [(t, row["l"]) for t, row in samples] == [("nearest the link threshold", 0),
                                                    ("nearest the review threshold", 1), ("a clear match", 3)]


def test_each_waterfall_adds_up_to_the_pairs_weight() -> None:
    records, _ = person_frame(300, seed=5)
    settings = person_settings()
    page = explain(settings, Linker(settings).link(records, explain=True))
    assert len(page.waterfalls) == 3 and len(page.comparisons) == len(settings.comparisons)
    for fall in page.waterfalls:
        *parts, total = fall.steps
        assert sum(step.value for step in parts) == pytest.approx(fall.weight, abs=1e-6) == total.value


def test_keys_alone_give_a_page_that_says_no_pair_was_scored() -> None:
    records, _ = person_frame(20, seed=5)
    settings = person_settings().model_copy(update={"blocking": [], "comparisons": []})
    html = render(explain(settings, Linker(settings).link(records, explain=True)))
    assert "No candidate pairs were scored." in html and '<svg class="chart' not in html
