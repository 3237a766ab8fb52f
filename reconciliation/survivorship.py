"""Survivorship: which source's value becomes the golden value, field by field.

The rules run column-wise in polars over every entity at once (``winners``): for each
entity and field they name the member record whose value wins. hub.yaml names a rule and
its sources per field. ``survive_many`` turns the winners into golden values with their
lineage (source system, record, rule, run and, when the sources disagree, the evidence:
every source's value); a steward's chosen value, while its evidence holds, comes before
every rule. ``golden_frame`` is the same outcome as columns, for bulk work that never
builds Python objects per record.

A members frame has one row per member record: ``entity`` (the hub id or cluster),
``row`` (its position, which names the record), ``system``, ``record_id``, ``seen_at``
(ISO time the content was first seen, for "most recent" and "first non-empty") and one
text column per field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from reconciliation.decisions import ChosenValue, chosen_holds, field_evidence
from reconciliation.records import Golden, MemberRecord

SOURCE_PRIORITY, MOST_RECENT, MOST_FREQUENT = "source_priority", "most_recent", "most_frequent"
REGISTRY, FIRST_NON_EMPTY, STEWARD = "registry", "first_non_empty", "steward"
WINNERS_SCHEMA = {"field": pl.String, "row": pl.UInt32, "rule": pl.String}  # entity keeps its own type


@dataclass(frozen=True)
class FieldRule:
    rule: str
    sources: tuple[str, ...]


def _holding(members: pl.DataFrame, field: str, sources: Sequence[str]) -> pl.DataFrame:
    """Members of the listed sources with a value, ranked by source order."""
    rank = {s: i for i, s in enumerate(sources)}
    return (members.select("entity", "row", "system", "record_id", "seen_at", pl.col(field).alias("value"))
            .filter(pl.col("system").is_in(list(rank)) & pl.col("value").is_not_null())
            .with_columns(pl.col("system").replace_strict(rank, return_dtype=pl.Int32).alias("rank")))


def _first(found: pl.DataFrame, by: list[pl.Expr | str], descending: list[bool], rule: str) -> pl.DataFrame:
    """Per entity, the row that sorts first; ties always end in source order, then record id."""
    order = [*by, "rank", "record_id"]
    return found.group_by("entity").agg(
        pl.col("row").sort_by(order, descending=[*descending, False, False]).first(),
        pl.lit(rule).alias("rule"))


def source_priority(found: pl.DataFrame) -> pl.DataFrame:
    """The first source in the list that holds a value (lowest record id within a system)."""
    return _first(found, [], [], SOURCE_PRIORITY)


def most_recent(found: pl.DataFrame) -> pl.DataFrame:
    """The value of the record whose content changed last; ties by source order."""
    return _first(found, [pl.col("seen_at").fill_null("")], [True], MOST_RECENT)


def most_frequent(found: pl.DataFrame, rule: str = MOST_FREQUENT) -> pl.DataFrame:
    """The value most records agree on; ties go to the value of the higher-priority source."""
    counted = found.with_columns(pl.len().over("entity", "value").alias("agree"))
    return _first(counted, ["agree"], [True], rule)


def first_non_empty(found: pl.DataFrame) -> pl.DataFrame:
    """The value of the record that held one first (the oldest content), e.g. a customer's start terms."""
    return _first(found, [pl.col("seen_at").fill_null("~")], [False], FIRST_NON_EMPTY)


def registry_authoritative(members: pl.DataFrame, field: str, sources: Sequence[str]) -> pl.DataFrame:
    """The registry (the first source listed) decides when it knows the company; otherwise the
    value most of the other sources agree on."""
    known = source_priority(_holding(members, field, sources[:1])).with_columns(pl.lit(REGISTRY).alias("rule"))
    rest = _holding(members, field, sources[1:]).join(known.select("entity"), on="entity", how="anti")
    return pl.concat([known, most_frequent(rest, f"{REGISTRY}:{MOST_FREQUENT}")])


_RULES: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {
    SOURCE_PRIORITY: source_priority, MOST_RECENT: most_recent, MOST_FREQUENT: most_frequent,
    FIRST_NON_EMPTY: first_non_empty}
RULE_NAMES = frozenset({*_RULES, REGISTRY})


def winners(members: pl.DataFrame, rules: Mapping[str, FieldRule], fields: Sequence[str]) -> pl.DataFrame:
    """(entity, field, row, rule): the member row whose value each entity's field takes.

    Never depends on the order records were read in: every rule orders its candidates.
    """
    parts = []
    for field in fields:
        rule = rules[field]
        if rule.rule == REGISTRY:
            picked = registry_authoritative(members, field, rule.sources)
        else:
            picked = _RULES[rule.rule](_holding(members, field, rule.sources))
        parts.append(picked.select("entity", pl.lit(field).alias("field"), "row", "rule"))
    return pl.concat(parts).cast(WINNERS_SCHEMA)  # type: ignore[arg-type]


def disagreeing(members: pl.DataFrame, fields: Sequence[str]) -> pl.DataFrame:
    """(entity, field) where the members hold more than one value: the lineage keeps the evidence."""
    parts = [members.group_by("entity").agg(pl.col(f).drop_nulls().n_unique().alias("n"))
             .filter(pl.col("n") > 1).select("entity", pl.lit(f).alias("field")) for f in fields]
    return pl.concat(parts).cast({"field": pl.String})


def golden_frame(members: pl.DataFrame, rules: Mapping[str, FieldRule], fields: Sequence[str]) -> pl.DataFrame:
    """One row per entity: each field's golden value and its lineage (``<field>__source``,
    ``__record_id``, ``__rule``, ``__disputed`` where the sources disagree), column-wise."""
    picked = winners(members, rules, fields)
    golden = members.select("entity").unique()
    disputed = disagreeing(members, fields)
    for field in fields:
        won = (picked.filter(pl.col("field") == field).drop("field")
               .join(members.select("row", "system", "record_id", field), on="row")
               .join(disputed.filter(pl.col("field") == field).select("entity", pl.lit(True).alias("d")),
                     on="entity", how="left")
               .select("entity", pl.col(field), pl.col("system").alias(f"{field}__source"),
                       pl.col("record_id").alias(f"{field}__record_id"), pl.col("rule").alias(f"{field}__rule"),
                       pl.col("d").fill_null(False).alias(f"{field}__disputed")))
        golden = golden.join(won, on="entity", how="left")
    return golden


def members_frame(entities: Mapping[str, Sequence[MemberRecord]],
                  fields: Sequence[str]) -> tuple[pl.DataFrame, list[MemberRecord]]:
    """Python member records as a members frame, and the records by ``row``."""
    records = [m for members in entities.values() for m in members]
    frame = pl.DataFrame({
        "entity": [e for e, members in entities.items() for _ in members],
        "row": list(range(len(records))),
        "system": [m.system for m in records], "record_id": [m.record_id for m in records],
        "seen_at": [m.seen_at for m in records],
        **{f: [_text(m.values.get(f)) for m in records] for f in fields}},
        schema={"entity": pl.String, "row": pl.UInt32, "system": pl.String, "record_id": pl.String,
                "seen_at": pl.String, **{f: pl.String for f in fields}})
    return frame, records


def survive_many(entities: Mapping[str, Sequence[MemberRecord]], rules: Mapping[str, FieldRule],
                 fields: Sequence[str], run_id: str = "",
                 chosen: Mapping[str, Mapping[str, ChosenValue]] | None = None) -> dict[str, Golden]:
    """The golden values of every entity, with their lineage, from one column-wise pass."""
    frame, records = members_frame(entities, fields)
    picks: dict[str, dict[str, tuple[MemberRecord | None, Any, str]]] = {e: {} for e in entities}
    for entity, field, row, rule in winners(frame, rules, fields).iter_rows():
        member = records[row]
        picks[entity][field] = (member, member.values[field], rule)
    for entity, choices in (chosen or {}).items():
        for field, choice in choices.items():
            if entity in picks and chosen_holds(choice, entities[entity]):
                picks[entity][field] = (_holder(entities[entity], choice), choice.value, STEWARD)
    return {e: _golden(entities[e], picked, run_id) for e, picked in picks.items()}


def survive(members: Sequence[MemberRecord], rules: Mapping[str, FieldRule], fields: Sequence[str],
            run_id: str = "", chosen: Mapping[str, ChosenValue] | None = None) -> Golden:
    """The golden values of one entity, with their lineage."""
    return survive_many({"": members}, rules, fields, run_id, {"": chosen or {}})[""]


def _holder(members: Sequence[MemberRecord], choice: ChosenValue) -> MemberRecord | None:
    return next((m for m in sorted(members, key=lambda m: m.key) if m.values.get(choice.field) == choice.value),
                None)


def _golden(members: Sequence[MemberRecord], picked: Mapping[str, tuple[MemberRecord | None, Any, str]],
            run_id: str) -> Golden:
    values: dict[str, Any] = {}
    lineage: dict[str, dict[str, Any]] = {}
    for field, (member, value, rule) in picked.items():
        if value is None:
            continue
        values[field] = value
        lineage[field] = _lineage(member, rule, members, field, run_id)
    return Golden(values=values, lineage=lineage)


def _lineage(member: MemberRecord | None, rule: str, members: Sequence[MemberRecord], field: str,
             run_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"source": member.system if member else STEWARD,
                             "record_id": member.record_id if member else None, "rule": rule, "run": run_id}
    evidence = {k: v for k, v in field_evidence(members, field).items() if v is not None}
    if len({_text(v) for v in evidence.values()}) > 1:
        entry["evidence"] = evidence  # kept only where sources disagree: that is what needs explaining
    return entry


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
