"""Fellegi-Sunter, EM and clustering on data whose answer is known."""

from __future__ import annotations

import random

import numpy as np
import polars as pl

from reconciliation.matching.clustering import FORCED, Edge, connected_components, resolve
from reconciliation.matching.fellegi_sunter import Model, expectation_maximisation
from reconciliation.matching.evaluation import pairwise_scores


def _pairs(n: int, prior: float, m: list[float], u: list[float], seed: int = 1) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        probs = m if rng.random() < prior else u
        rows.append({"a": rng.choices([0, 1, 2], probs)[0], "b": rng.choices([0, 1, 2], probs)[0]})
    return pl.DataFrame(rows, schema={"a": pl.Int8, "b": pl.Int8})


def test_em_recovers_the_share_of_matches_and_m() -> None:
    true_m, true_u = [0.05, 0.15, 0.8], [0.85, 0.1, 0.05]
    gammas = _pairs(20_000, prior=0.3, m=true_m, u=true_u)
    start = Model(m={"a": [1 / 3] * 3, "b": [0.2, 0.3, 0.5]}, u={"a": true_u, "b": true_u}, prior=0.5)
    model = expectation_maximisation(gammas, start, iterations=50)
    assert abs(model.prior - 0.3) < 0.03
    assert abs(model.m["a"][2] - 0.8) < 0.05


def test_agreement_raises_the_match_probability_and_missing_values_are_neutral() -> None:
    model = Model(m={"a": [0.1, 0.9]}, u={"a": [0.9, 0.1]}, prior=0.5)
    p = model.match_probability(pl.DataFrame({"a": [1, 0, None]}, schema={"a": pl.Int8})).to_list()
    assert p[0] > 0.85 and p[1] < 0.15 and abs(p[2] - 0.5) < 1e-9


def test_connected_components_label_chains_and_singletons() -> None:
    labels = connected_components(6, np.array([4, 3, 1]), np.array([3, 2, 0]))
    assert labels.tolist() == [0, 0, 2, 2, 2, 5]


def test_a_chain_of_links_never_joins_two_different_exclusive_values() -> None:
    # 0 (IČO A) ~ 1 (no IČO) ~ 2 (IČO B): the stronger link wins, the weaker is refused.
    edges = [Edge(0, 1, 20.0, "probabilistic"), Edge(1, 2, 15.0, "probabilistic")]
    done = resolve([0, 1, 2], edges, {0: {"company_id": "A"}, 2: {"company_id": "B"}}, [])
    assert done.root[0] == done.root[1] != done.root[2]
    assert [why for _, why in done.refused] == ["different company_id"]


def test_forced_edges_hold_and_a_not_a_match_pair_stays_apart() -> None:
    edges = [Edge(0, 1, FORCED, "existing"), Edge(1, 2, 30.0, "probabilistic")]
    done = resolve([0, 1, 2], edges, {}, [(0, 2)])
    assert done.root[0] == done.root[1] != done.root[2]


def test_pairwise_scores_count_pairs() -> None:
    clusters = pl.DataFrame({"system": ["s"] * 4, "record_id": ["1", "2", "3", "4"], "cluster": [0, 0, 0, 3]})
    truth = pl.DataFrame({"system": ["s"] * 4, "record_id": ["1", "2", "3", "4"], "entity": ["x", "x", "y", "y"]})
    scores = pairwise_scores(clusters, truth)
    assert (scores.true_pairs, scores.predicted_pairs, scores.correct_pairs) == (2, 3, 1)
