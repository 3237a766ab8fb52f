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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from reconciliation.decisions import ChosenValue, chosen_holds, field_evidence
from reconciliation.records import Golden, MemberRecord

SOURCE_PRIORITY, MOST_RECENT, MOST_FREQUENT = "source_priority", "most_recent", "most_frequent"
REGISTRY, FIRST_NON_EMPTY, STEWARD = "registry", "first_non_empty", "steward"


@dataclass(frozen=True)
class FieldRule:
    rule: str
    sources: tuple[str, ...]


_RID_BITS, _RANK_BITS, _AGREE_BITS = 32, 11, 20  # a sort key packed into one 64-bit integer
RULE_TYPE = pl.Enum([SOURCE_PRIORITY, MOST_RECENT, MOST_FREQUENT, FIRST_NON_EMPTY, REGISTRY,
                     f"{REGISTRY}:{MOST_FREQUENT}", STEWARD])


def _rank(field: str, sources: Sequence[str]) -> pl.Expr:
    """The source's place in the rule's list, for members that hold a value; else null."""
    if len(sources) >= 1 << _RANK_BITS:
        raise ValueError(f"{field}: at most {(1 << _RANK_BITS) - 1} sources")
    rank = {s: i for i, s in enumerate(sources)}
    position = pl.col("system").replace_strict(rank, default=None, return_dtype=pl.UInt64)
    return pl.when(pl.col(field).is_not_null()).then(position)


def _key(rank: pl.Expr, before: pl.Expr | None = None) -> pl.Expr:
    """Source order, then record id (``_rid``), optionally after a stronger criterion: the
    smallest key wins. The record id part names the record, so the key alone finds the row."""
    key = rank * (1 << _RID_BITS) + pl.col("_rid").cast(pl.UInt64)
    return key if before is None else before.cast(pl.UInt64) * (1 << (_RID_BITS + _RANK_BITS)) + key


def _most_frequent_key(field: str, sources: Sequence[str]) -> pl.Expr:
    """The value most holders agree on; ties go to the value of the higher-priority source."""
    rank = _rank(field, sources)
    agree = rank.count().over("entity", field).clip(upper_bound=(1 << _AGREE_BITS) - 1)
    return _key(rank, pl.lit((1 << _AGREE_BITS) - 1, pl.UInt64) - agree.cast(pl.UInt64))


def _timed_key(field: str, sources: Sequence[str], latest: bool) -> pl.Expr:
    """Only the holders whose content changed last (``latest``) or first compete; then source order.
    A record without a time never beats one with a time."""
    rank = _rank(field, sources)
    seen = pl.when(rank.is_not_null()).then(pl.col("seen_at").fill_null("" if latest else "~"))
    best = seen.max().over("entity") if latest else seen.min().over("entity")
    return pl.when(seen == best).then(_key(rank))


def _keys(field: str, rule: FieldRule) -> dict[str, pl.Expr]:
    """Per rule, the packed key(s) whose minimum per entity is the winner."""
    sources = rule.sources
    if rule.rule == SOURCE_PRIORITY:
        return {field: _key(_rank(field, sources))}
    if rule.rule == MOST_FREQUENT:
        return {field: _most_frequent_key(field, sources)}
    if rule.rule in (MOST_RECENT, FIRST_NON_EMPTY):
        return {field: _timed_key(field, sources, rule.rule == MOST_RECENT)}
    if rule.rule == REGISTRY:
        # The registry (the first source listed) decides when it knows the company; otherwise
        # the value most of the other sources agree on.
        return {field: _key(_rank(field, sources[:1])), f"{field}__fallback": _most_frequent_key(field, sources[1:])}
    raise ValueError(f"{field}: unknown survivorship rule {rule.rule!r}")


def winners_wide(members: pl.DataFrame, rules: Mapping[str, FieldRule], fields: Sequence[str]) -> pl.DataFrame:
    """One row per entity: for each field the member row whose value wins (``<field>__row``, null
    when no source holds one) and the rule that picked it (``<field>__rule``).

    Never depends on the order records were read in: every rule orders its candidates, and
    ties end in source order, then record id.
    """
    if members.height >= 1 << _RID_BITS:
        raise ValueError("too many member records for one pass")
    ranked = members.with_columns(pl.col("record_id").rank("ordinal").cast(pl.UInt32).alias("_rid") - 1)
    row_of_rid = ranked["row"].gather(ranked["_rid"].arg_sort())
    keys = {name: expr for f in fields for name, expr in _keys(f, rules[f]).items()}
    best = ranked.select("entity", **keys).group_by("entity").agg(pl.col(name).min() for name in keys)
    columns: list[pl.Series | pl.Expr] = []
    for f in fields:
        fallback = f"{f}__fallback"
        key = pl.coalesce(f, fallback) if fallback in keys else pl.col(f)
        picked = best.select((key % (1 << _RID_BITS)).cast(pl.UInt32)).to_series()
        columns.append(row_of_rid.gather(picked).alias(f"{f}__row"))
        rule = (pl.when(pl.col(f).is_not_null()).then(pl.lit(REGISTRY)).otherwise(pl.lit(f"{REGISTRY}:{MOST_FREQUENT}"))
                if fallback in keys else pl.lit(rules[f].rule))
        columns.append(pl.when(key.is_not_null()).then(rule).cast(RULE_TYPE).alias(f"{f}__rule"))
    return best.select("entity", *columns)


def winners(members: pl.DataFrame, rules: Mapping[str, FieldRule], fields: Sequence[str]) -> pl.DataFrame:
    """(entity, field, row, rule): the member row whose value each entity's field takes."""
    wide = winners_wide(members, rules, fields)
    return pl.concat([wide.select("entity", pl.lit(f).alias("field"), pl.col(f"{f}__row").alias("row"),
                                  pl.col(f"{f}__rule").cast(pl.String).alias("rule")).drop_nulls("row")
                      for f in fields])


def disagreeing(members: pl.DataFrame, fields: Sequence[str]) -> pl.DataFrame:
    """Per entity and field (``<field>__disputed``): the members hold more than one value, so the
    lineage keeps the evidence."""
    # Values compared by 64-bit hash: integer min/max per group is several times faster than text,
    # and two different values sharing a hash would at worst leave out one entity's evidence.
    hashed = {f: pl.when(pl.col(f).is_not_null()).then(pl.col(f).hash()) for f in fields}
    return members.group_by("entity").agg(
        (h.min() != h.max()).fill_null(False).alias(f"{f}__disputed") for f, h in hashed.items())


def golden_frame(members: pl.DataFrame, rules: Mapping[str, FieldRule], fields: Sequence[str]) -> pl.DataFrame:
    """One row per entity: each field's golden value and its lineage, column-wise: the member row
    it came from (``<field>__row``; its system and record id name the source), the rule, and
    whether the members disagree (``<field>__disputed``)."""
    golden = winners_wide(members, rules, fields).join(disagreeing(members, fields), on="entity")
    rows = members.get_column("row")
    by_row = members if _numbered(rows) else members.sort("row")  # the values, gathered by row
    if not _numbered(by_row.get_column("row")):
        raise ValueError("member rows must be numbered 0..n-1")
    return golden.with_columns(by_row.get_column(f).gather(golden[f"{f}__row"]).alias(f) for f in fields)


def _numbered(rows: pl.Series) -> bool:
    return rows.is_empty() or (rows[0] == 0 and bool(rows.diff().drop_nulls().eq(1).all()))


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
