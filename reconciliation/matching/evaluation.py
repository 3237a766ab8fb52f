"""Pairwise precision, recall and F1 of a clustering against known truth (for tests and the bench).

Counted over pairs of records: a predicted pair is two records in one cluster, a true
pair two records of one entity. Computed from cluster sizes with polars, never by
listing pairs, so a million records cost a few group-bys.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class PairwiseScores:
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def pairwise_scores(clusters: pl.DataFrame, truth: pl.DataFrame) -> PairwiseScores:
    """``clusters``: system, record_id, cluster; ``truth``: system, record_id, entity.

    Only records present in both frames count (quarantined records are in neither).
    """
    keys = [pl.col("system").cast(pl.String), pl.col("record_id").cast(pl.String)]  # either may be categorical
    joined = clusters.select(*keys, "cluster").join(truth.select(*keys, "entity"), on=["system", "record_id"])
    return PairwiseScores(true_pairs=_pairs(joined, ["entity"]), predicted_pairs=_pairs(joined, ["cluster"]),
                          correct_pairs=_pairs(joined, ["cluster", "entity"]))


def _pairs(frame: pl.DataFrame, by: list[str]) -> int:
    sizes = frame.group_by(by).len()["len"].cast(pl.Int64)
    return int((sizes * (sizes - 1) // 2).sum())
