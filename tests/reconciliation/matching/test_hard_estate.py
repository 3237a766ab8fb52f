"""The hub's matching rules on the generator's hard estate: sister companies in one building with
names a word apart, many records without IDs, drifted true matches (see sandbox.generator)."""

from __future__ import annotations

from itertools import combinations

import polars as pl
import pytest

from reconciliation.matching import Linker
from reconciliation.matching.evaluation import pairwise_scores
from sandbox.frames import canonical_frame, truth_frame
from sandbox.generator import Options, fold_name, generate
from tests.reconciliation.settings import hub_settings

HARD = Options(hard_negatives=0.1, without_ids=0.3, varied_names=True)


@pytest.fixture(scope="module")
def linked() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    estate = generate(1500, seed=11, options=HARD)
    records = canonical_frame(estate)
    clusters = Linker(hub_settings()).link(records).clusters
    return records, clusters, truth_frame(estate)


def test_precision_and_f1_reach_the_target_on_a_second_seed(linked: tuple) -> None:
    _, clusters, truth = linked
    scores = pairwise_scores(clusters, truth)
    assert scores.precision >= 0.995, scores
    assert scores.f1 >= 0.99, scores


def test_no_cluster_holds_two_different_ico_or_vat_ids(linked: tuple) -> None:
    records, clusters, _ = linked
    joined = clusters.join(records, on=["system", "record_id"])
    counts = joined.group_by("cluster").agg(pl.col("company_id").drop_nulls().n_unique().alias("ico"),
                                            pl.col("vat_id").drop_nulls().n_unique().alias("vat"))
    assert counts["ico"].max() == 1 and counts["vat"].max() == 1


def test_sister_companies_in_one_building_stay_apart_even_without_ids(linked: tuple) -> None:
    records, clusters, truth = linked
    rows = (records.join(clusters, on=["system", "record_id"]).join(truth, on=["system", "record_id"])
            .select("entity", "cluster", "legal_name", "street", "city", "company_id", "vat_id").rows(named=True))
    by_address: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        by_address.setdefault((fold_name(row["street"] or ""), fold_name(row["city"] or "")), []).append(row)
    sisters = together = 0
    for group in by_address.values():
        for a, b in combinations(group, 2):
            open_ = not (a["company_id"] or a["vat_id"]) or not (b["company_id"] or b["vat_id"])
            alike = set(fold_name(a["legal_name"]).split()) & set(fold_name(b["legal_name"]).split())
            if a["entity"] != b["entity"] and open_ and alike:
                sisters += 1
                together += a["cluster"] == b["cluster"]
    assert sisters >= 100  # the estate is hard: keys cannot keep these apart
    assert together <= 0.01 * sisters, (together, sisters)
