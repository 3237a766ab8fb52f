"""Training that cannot run away: bounded EM, collapse caught, the untrained parameters kept with
a warning; the company estates train as before."""

from __future__ import annotations

import logging

import polars as pl
import pytest

from reconciliation.matching import Linker, MatchSettings
from reconciliation.matching.evaluation import pairwise_scores
from reconciliation.matching.fellegi_sunter import Bounds, Model, cap_m, expectation_maximisation, floor_u
from reconciliation.matching.settings import TrainingSpec
from reconciliation.matching.training import share_bounds
from sandbox.frames import canonical_frame, truth_frame
from sandbox.generator import Options, generate
from tests.reconciliation.persons import person_frame, person_settings
from tests.reconciliation.settings import hub_settings


@pytest.fixture(scope="module")
def persons() -> tuple[pl.DataFrame, pl.DataFrame]:
    return person_frame(1500, seed=2)


def test_on_persons_without_a_key_em_stays_bounded_and_links_them_well(
        persons: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """Before bounds, EM reached λ = 1 here and the whole estate became one cluster (F1 0.0005):
    u from random pairs cannot describe pairs that share a block. Bounded, with u estimated on
    the candidates, λ lands on the true share of matches."""
    records, truth = persons
    result = Linker(person_settings()).link(records, explain=True)
    assert result.training_warnings == []
    assert result.pairs is not None and result.model is not None
    true_share = 1500 / result.pairs.height
    assert abs(result.model.prior - true_share) < 0.3 * true_share, (result.model.prior, true_share)
    scores = pairwise_scores(result.clusters, truth)
    assert scores.precision >= 0.99 and scores.f1 >= 0.95, scores
    off = pairwise_scores(Linker(person_settings(em_iterations=0)).link(records).clusters, truth)
    assert scores.f1 > off.f1, (scores, off)


def test_a_model_that_still_runs_away_is_dropped_with_a_warning(
        persons: tuple[pl.DataFrame, pl.DataFrame], caplog: pytest.LogCaptureFixture) -> None:
    """m configured (copied from elsewhere, lenient) fixes m, so EM only moves λ, with u from random
    pairs: every pair of a block looks like a match. The model is dropped, and the run is told,
    also that the untrained parameters do not hold either."""
    records, truth = persons
    settings = _with_m(person_settings(), three=[0.3, 0.2, 0.5], two=[0.3, 0.7])
    with caplog.at_level(logging.WARNING):
        result = Linker(settings).link(records)
    fell_back, *rest = result.training_warnings
    assert "fell back to the untrained parameters" in fell_back and "past its bound" in fell_back
    assert rest and "the untrained parameters look collapsed too" in rest[0]
    assert fell_back in caplog.text, "the warning reaches the log as well"
    assert result.model is not None and result.model.warnings == result.training_warnings
    assert result.model.prior < 0.07 and result.model.history == [], "the untrained λ, not EM's"


def _with_m(settings: MatchSettings, three: list[float], two: list[float]) -> MatchSettings:
    raw = settings.model_dump()
    for comparison in raw["comparisons"]:
        comparison["m"] = three if len(comparison["levels"]) == 2 else two
    return MatchSettings.model_validate(raw)


def test_the_company_estate_trains_as_before_and_warns_of_nothing() -> None:
    estate = generate(600, seed=3, options=Options(hard_negatives=0.1, without_ids=0.3, varied_names=True))
    result = Linker(hub_settings()).link(canonical_frame(estate))
    assert result.training_warnings == []
    assert result.model is not None and 0.6 < result.model.prior < 0.95  # EM's own estimate, inside its band
    scores = pairwise_scores(result.clusters, truth_frame(estate))
    assert scores.precision >= 0.995 and scores.f1 >= 0.99, scores


def test_em_keeps_the_match_share_inside_its_band_and_remembers_where_it_wanted_to_go() -> None:
    gammas = pl.DataFrame({"a": [1] * 900 + [0] * 100}, schema={"a": pl.Int8})
    model = Model(m={"a": [0.5, 0.5]}, u={"a": [0.9, 0.1]}, prior=0.5)
    bounded = expectation_maximisation(gammas, model, 20, bounds=Bounds(0.01, 0.2))
    assert bounded.prior == pytest.approx(0.2) and bounded.wanted is not None and bounded.wanted > 0.2


def test_no_u_below_its_floor_and_no_level_weighs_more_than_the_cap() -> None:
    u = floor_u({"a": [0.99999, 0.00001, 0.0]}, 1e-3)
    assert min(u["a"]) >= 1e-3 * 0.99 and sum(u["a"]) == pytest.approx(1)
    model = Model(m={"a": [0.001, 0.999]}, u={"a": [0.999, 0.001]}, prior=0.5)
    cap_m(model, 5.0)
    assert max(abs(w) for w in model.bayes_factors("a")) <= 5.0 + 1e-9


def test_the_band_follows_the_keys_and_the_records() -> None:
    spec = TrainingSpec()
    keyed = share_bounds(spec, matches=800, non_matches=200, records_per_pair=None)
    assert keyed.low == pytest.approx(0.2) and keyed.high == pytest.approx(0.95)
    # No keys: at most two matching pairs a record; 4,000 records over 80,000 pairs.
    unkeyed = share_bounds(spec, matches=0, non_matches=0, records_per_pair=4000 / 80_000)
    assert unkeyed.low == spec.match_share_floor and unkeyed.high == pytest.approx(0.05)


def test_a_share_band_upside_down_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="match_share_floor"):
        TrainingSpec(match_share_floor=0.5, match_share_ceiling=0.4)


def test_a_cluster_swallowing_its_blocks_is_seen(persons: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    from reconciliation.matching.blocking import candidate_pairs
    from reconciliation.matching.collapse import swallowed_blocks

    records, _ = persons
    linker = Linker(person_settings())
    frame = linker._prepare(records)
    pairs, _ = candidate_pairs(frame, linker.settings.blocking, linker.settings.max_block_size)
    swallowed, blocks = swallowed_blocks(linker.settings, frame, pairs)  # every candidate pair linked
    assert blocks > 10 and swallowed == blocks
    assert swallowed_blocks(linker.settings, frame, pairs.head(0)) == (0, blocks)
