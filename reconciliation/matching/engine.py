"""The Linker: deterministic keys, then blocking, comparisons and Fellegi-Sunter for the rest,
then clustering under constraints. A small facade over the parts (Splink's Linker, pared down).

Input: one polars frame of records with ``system``, ``record_id``, the columns the settings
read, and optionally ``hub_id`` (records already linked: their membership is kept, which
makes matching incremental and hub ids stable) and ``previous_hub_id`` (a changed record's
former hub id, kept when nothing better turns up).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from reconciliation.matching.blocking import OPEN, ROW, candidate_pairs
from reconciliation.matching.clustering import FORCED, Edge, connected_components, resolve
from reconciliation.matching.collapse import collapse_signs
from reconciliation.matching.comparisons import Comparison, compare
from reconciliation.matching.features import with_features
from reconciliation.matching.fellegi_sunter import Model
from reconciliation.matching.settings import MatchSettings
from reconciliation.matching.training import train
from reconciliation.records import RecordKey

HUB = "hub_id"
LEVEL = "level:"  # the explained pairs' level column of a comparison: a prefix no other column has
_log = logging.getLogger(__name__)
_KEY_WEIGHT = 1000.0  # a key link outranks any probabilistic weight; stronger keys rank higher


@dataclass(frozen=True)
class StewardPairs:
    must_link: Sequence[tuple[RecordKey, RecordKey]] = ()
    cannot_link: Sequence[tuple[RecordKey, RecordKey]] = ()


@dataclass
class LinkResult:
    clusters: pl.DataFrame  # system, record_id, cluster, hub_id, rule, probability
    candidates: pl.DataFrame  # system_a, record_id_a, system_b, record_id_b, probability, reason
    model: Model | None
    stats: dict[str, float] = field(default_factory=dict)
    # Why training fell back to the untrained parameters (a run-away EM); empty when it did not.
    training_warnings: list[str] = field(default_factory=list)
    # With ``explain``: every scored pair (l, r, probability, weight, one level column per
    # comparison) and the prepared records they point into (row ``_row``); for the explain page.
    pairs: pl.DataFrame | None = None
    records: pl.DataFrame | None = None


class Linker:
    def __init__(self, settings: MatchSettings) -> None:
        self.settings = settings
        self.comparisons = [Comparison.from_spec(c) for c in settings.comparisons]

    def link(self, records: pl.DataFrame, steward: StewardPairs = StewardPairs(),
             model: Model | None = None, explain: bool = False) -> LinkResult:
        """``model``: score with it instead of training one on ``records`` (an incremental run
        links a part of the estate with the model trained on the whole of it); ``explain``: keep
        the scored pairs with their comparison levels in the result."""
        frame = self._prepare(records)
        rows = _row_lookup(frame, [*steward.must_link, *steward.cannot_link])
        must = _pairs_to_rows(steward.must_link, rows)
        cannot = _pairs_to_rows(steward.cannot_link, rows)
        edges = self._fixed_edges(frame, must)
        edges = pl.concat([edges, self._key_edges(frame)])
        scored, model, stats = self._probabilistic(frame, cannot, model, explain)
        links = scored.filter(pl.col("probability") >= self.settings.thresholds.link)
        edges = pl.concat([edges, links.select("l", "r", "weight", pl.lit("probabilistic").alias("reason"))])
        labels, refused = self._cluster(frame, edges, cannot)
        clusters = _assignments(frame, labels, edges, links)
        candidates = self._candidates(frame, labels, scored, refused)
        stats.update({"records": frame.height, "edges": edges.height, "links": links.height,
                      "clusters": int(np.unique(labels).size), "candidates": candidates.height})
        warnings = list(model.warnings) if model else []
        if not explain:
            return LinkResult(clusters, candidates, model, stats, warnings)
        return LinkResult(clusters, candidates, model, stats, warnings, scored, frame)

    def _prepare(self, records: pl.DataFrame) -> pl.DataFrame:
        # Only the columns the rules read: every later filter or sample then copies little.
        wanted = ["system", "record_id", HUB, "previous_hub_id", *sorted(self.settings.source_columns())]
        frame = records.select([c for c in wanted if c in records.columns])
        for column in (HUB, "previous_hub_id"):
            if column not in frame.columns:
                frame = frame.with_columns(pl.lit(None, pl.String).alias(column))
        frame = with_features(frame, self.settings.features).with_row_index(ROW)
        no_key = pl.all_horizontal([pl.lit(True), *[pl.col(k).is_null() for k in self.settings.keys]])
        return frame.with_columns((pl.col(HUB).is_null() & no_key).alias(OPEN))

    def _fixed_edges(self, frame: pl.DataFrame, must: pl.DataFrame) -> pl.DataFrame:
        """Existing membership (same hub id) and steward matches: taken as given."""
        members = _star(frame, HUB).with_columns(pl.lit(FORCED).alias("weight"), pl.lit("existing").alias("reason"))
        forced = must.with_columns(pl.lit(FORCED).alias("weight"), pl.lit("steward").alias("reason"))
        return pl.concat([members, forced])

    def _key_edges(self, frame: pl.DataFrame) -> pl.DataFrame:
        parts = [_star(frame, key).with_columns(pl.lit(_KEY_WEIGHT - i).alias("weight"), pl.lit(key).alias("reason"))
                 for i, key in enumerate(self.settings.keys)]
        return pl.concat(parts) if parts else _edge_frame()

    def _probabilistic(self, frame: pl.DataFrame, cannot: pl.DataFrame, trained: Model | None,
                       explain: bool = False) -> tuple[pl.DataFrame, Model | None, dict[str, float]]:
        empty = pl.DataFrame(schema={"l": pl.UInt32, "r": pl.UInt32, "probability": pl.Float64,
                                     "weight": pl.Float64})
        if not self.settings.probabilistic or not frame[OPEN].any():
            return empty, None, {"pairs": 0}
        pairs, stats = candidate_pairs(frame, self.settings.blocking, self.settings.max_block_size)
        pairs = self._admissible(frame, pairs, cannot)
        gammas = compare(frame, pairs["l"], pairs["r"], self.comparisons)
        model = trained or self._train(frame, pairs, gammas)
        scored = pairs.with_columns(model.match_probability(gammas), model.match_weight(gammas))
        if explain:
            scored = pl.concat([scored, gammas.rename(lambda name: f"{LEVEL}{name}")], how="horizontal")
        return scored, model, {**stats, "pairs": pairs.height}

    def _train(self, frame: pl.DataFrame, pairs: pl.DataFrame, gammas: pl.DataFrame) -> Model:
        """The trained model, or the untrained one with the reasons when training ran away."""
        training = train(self.settings, self.comparisons, frame, gammas, pairs)
        signs = collapse_signs(self.settings, training.model, training.bounds, frame, pairs, gammas)
        if not signs:
            return training.model
        model = training.fallback
        model.warnings = [f"match training fell back to the untrained parameters: {'; '.join(signs)}"]
        still = collapse_signs(self.settings, model, training.bounds, frame, pairs, gammas)
        if still:
            model.warnings.append(f"the untrained parameters look collapsed too: {'; '.join(still)}; "
                                  "check the blocking rules and comparisons")
        for warning in model.warnings:
            _log.warning(warning)
        return model

    def _admissible(self, frame: pl.DataFrame, pairs: pl.DataFrame, cannot: pl.DataFrame) -> pl.DataFrame:
        """Drop pairs that negative evidence rules out: different exclusive keys, a steward's no."""
        for key in [*self.settings.exclusive_keys, HUB]:
            left, right = frame[key].gather(pairs["l"]), frame[key].gather(pairs["r"])
            conflict = left.is_not_null() & right.is_not_null() & (left != right)
            pairs = pairs.filter(~conflict)
        return pairs.join(cannot, on=["l", "r"], how="anti")

    def _cluster(self, frame: pl.DataFrame, edges: pl.DataFrame,
                 cannot: pl.DataFrame) -> tuple[np.ndarray, list[tuple[Edge, str]]]:
        labels = connected_components(frame.height, edges["l"].to_numpy(), edges["r"].to_numpy())
        troubled = self._troubled(frame, labels, cannot)
        refused: list[tuple[Edge, str]] = []
        if not troubled:
            return labels, refused
        component = pl.Series(labels)
        inside = edges.filter(component.gather(edges["l"]).is_in(list(troubled)))
        exclusive = self._exclusive_values(frame, component.is_in(list(troubled)))
        nodes = np.flatnonzero(np.isin(labels, list(troubled))).tolist()
        done = resolve(nodes, [Edge(*row) for row in inside.iter_rows()], exclusive,
                       cannot.iter_rows())
        for node, root in done.root.items():
            labels[node] = root
        return labels, done.refused

    def _troubled(self, frame: pl.DataFrame, labels: np.ndarray, cannot: pl.DataFrame) -> set[int]:
        keys = [*self.settings.exclusive_keys, HUB]
        counts = (frame.select(keys).with_columns(pl.Series("_c", labels)).group_by("_c")
                  .agg([pl.col(k).drop_nulls().n_unique().alias(k) for k in keys]))
        bad = set(counts.filter(pl.any_horizontal([pl.col(k) > 1 for k in keys]))["_c"].to_list())
        if cannot.height:
            together = labels[cannot["l"].to_numpy()] == labels[cannot["r"].to_numpy()]
            bad |= set(labels[cannot["l"].to_numpy()][together].tolist())
        return bad

    def _exclusive_values(self, frame: pl.DataFrame, mask: pl.Series) -> dict[int, dict[str, str]]:
        keys = [*self.settings.exclusive_keys, HUB]
        out: dict[int, dict[str, str]] = {}
        for row in frame.filter(mask).select(ROW, *keys).iter_rows(named=True):
            out[row[ROW]] = {k: row[k] for k in keys if row[k] is not None}
        return out

    def _candidates(self, frame: pl.DataFrame, labels: np.ndarray, scored: pl.DataFrame,
                    refused: list[tuple[Edge, str]]) -> pl.DataFrame:
        """Pairs a person should look at: the review band, and probabilistic links a rule refused."""
        t = self.settings.thresholds
        apart = labels[scored["l"].to_numpy()] != labels[scored["r"].to_numpy()] if scored.height else []
        band = scored.filter(pl.Series(apart, dtype=pl.Boolean) & (pl.col("probability") >= t.review)) \
            if scored.height else scored
        band = band.select("l", "r", "probability", pl.lit("review band").alias("reason"))
        refused_rows = [(e.a, e.b, float(2 ** e.weight / (1 + 2 ** e.weight)), why)
                        for e, why in refused if e.reason == "probabilistic"]
        refused_frame = pl.DataFrame(refused_rows, schema=band.schema, orient="row")
        both = pl.concat([band.cast(refused_frame.schema), refused_frame])
        return _named_pairs(frame, both).sort("probability", descending=True)


def _star(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Edges joining every record with a value of ``column`` to the first record holding it."""
    keyed = frame.select(ROW, column).drop_nulls(column)
    return (keyed.select(pl.col(ROW).min().over(column).alias("l"), pl.col(ROW).alias("r"))
            .filter(pl.col("l") != pl.col("r")))


def _row_lookup(frame: pl.DataFrame, pairs: Sequence[tuple[RecordKey, RecordKey]]) -> dict[RecordKey, int]:
    """Row numbers of the records the steward pairs name (only those: a dict of every record
    costs hundreds of bytes a record in Python objects)."""
    wanted = {key for pair in pairs for key in pair}
    if not wanted:
        return {}
    keys = pl.DataFrame(sorted(wanted), schema={"system": pl.String, "record_id": pl.String}, orient="row")
    named = frame.select(ROW, pl.col("system").cast(pl.String), pl.col("record_id").cast(pl.String))
    found = named.join(keys, on=["system", "record_id"], how="semi").sort(ROW)
    return {(s, r): i for i, s, r in found.iter_rows()}


def _pairs_to_rows(pairs: Sequence[tuple[RecordKey, RecordKey]], rows: dict[RecordKey, int]) -> pl.DataFrame:
    found = [(min(rows[a], rows[b]), max(rows[a], rows[b])) for a, b in pairs if a in rows and b in rows]
    return pl.DataFrame(found, schema={"l": pl.UInt32, "r": pl.UInt32}, orient="row")


def _edge_frame() -> pl.DataFrame:
    return pl.DataFrame(schema={"l": pl.UInt32, "r": pl.UInt32, "weight": pl.Float64, "reason": pl.String})


def _assignments(frame: pl.DataFrame, labels: np.ndarray, edges: pl.DataFrame,
                 links: pl.DataFrame) -> pl.DataFrame:
    """Per record: its cluster, the cluster's hub id (kept or previous), and what linked it."""
    reason = (edges.filter(pl.col("reason") != "existing")
              .select(pl.concat_list("l", "r").alias(ROW), "weight", "reason").explode(ROW)
              .sort("weight", descending=True).unique(ROW, keep="first").select(pl.col(ROW).cast(pl.UInt32), "reason"))
    best = (links.select(pl.concat_list("l", "r").alias(ROW), "probability").explode(ROW)
            .group_by(ROW).agg(pl.col("probability").max()).with_columns(pl.col(ROW).cast(pl.UInt32)))
    out = (frame.select(ROW, HUB, "previous_hub_id").with_columns(pl.Series("cluster", labels))
           .join(reason, on=ROW, how="left").join(best, on=ROW, how="left"))
    # After clustering under constraints a cluster holds at most one existing hub id.
    hub = pl.col(HUB).max().over("cluster")
    previous = pl.col("previous_hub_id").min().over("cluster")  # the oldest former id
    rule = pl.when(pl.col(HUB).is_not_null()).then(pl.lit("existing")).otherwise(
        pl.col("reason").fill_null("single"))
    out = out.with_columns(pl.coalesce(hub, previous).alias(HUB), rule.alias("rule")).sort("cluster", ROW)
    # The names last, gathered once in the final order: text columns are the costly ones to move.
    names = frame.select("system", "record_id")[out.get_column(ROW)]
    return pl.concat([names, out.select("cluster", HUB, "rule", "probability")], how="horizontal")


def _named_pairs(frame: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    names = frame.select(ROW, "system", "record_id")
    return (pairs.join(names.rename({ROW: "l", "system": "system_a", "record_id": "record_id_a"}), on="l")
            .join(names.rename({ROW: "r", "system": "system_b", "record_id": "record_id_b"}), on="r")
            .select("system_a", "record_id_a", "system_b", "record_id_b", "probability", "reason"))
