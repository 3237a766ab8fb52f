"""Match quality against the generator's ground truth, with hard negatives and records without IDs.

A small estate keeps the test fast; ``make bench`` measures 10,000 companies and more.
"""

from __future__ import annotations

from reconciliation.matching import Linker
from reconciliation.matching.evaluation import pairwise_scores
from sandbox.frames import canonical_frame, truth_frame
from sandbox.generator import Options, generate
from tests.reconciliation.settings import hub_settings


def test_pairwise_precision_and_f1_on_a_hard_estate() -> None:
    estate = generate(1500, seed=3, options=Options(hard_negatives=0.1, without_ids=0.3, varied_names=True))
    result = Linker(hub_settings()).link(canonical_frame(estate))
    scores = pairwise_scores(result.clusters, truth_frame(estate))
    assert scores.precision >= 0.995, scores
    assert scores.f1 >= 0.99, scores


def test_without_probabilistic_rules_records_lacking_ids_stay_apart() -> None:
    """The same estate with keys alone: recall drops, which is what the probabilistic part is for."""
    estate = generate(300, seed=3, options=Options(without_ids=0.3, varied_names=True))
    keys_only = hub_settings().model_copy(update={"blocking": [], "comparisons": []})
    scores = pairwise_scores(Linker(keys_only).link(canonical_frame(estate)).clusters, truth_frame(estate))
    full = pairwise_scores(Linker(hub_settings()).link(canonical_frame(estate)).clusters, truth_frame(estate))
    assert scores.recall < 0.8 < full.recall
