"""Survivorship: which source's value becomes the golden value, field by field.

The rules (``reconciliation.survivorship_rules``: one class per rule, hub.yaml names one and
its sources per field) run column-wise in polars over every entity at once (``winners``): for
each entity and field they name the member record whose value wins. ``survive_many`` turns
the winners into golden values with their lineage (source system, record, rule, run and,
when the sources disagree, the evidence: every source's value); a steward's chosen value,
while its evidence holds, comes before every rule. ``golden_frame`` is the same outcome as columns, for bulk work that never
builds Python objects per record.

A members frame (``reconciliation.members``) has one row per member record: ``entity`` (the
hub id or cluster), ``row`` (its position, which names the record), ``system``, ``record_id``,
``seen_at`` (ISO time the content was first seen, for "most recent" and "first non-empty") and
one text column per field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from reconciliation.decisions import ChosenValue, chosen_holds
from reconciliation.members import members_frame, text
from reconciliation.records import Golden, MemberRecord, RecordKey
from reconciliation.survivorship_rules import RID, RID_BITS, Ranking, SurvivorshipRule, rule_named

__all__ = ["STEWARD", "SurvivorshipRule", "golden_frame", "members_frame", "rule_named", "survive",
           "survive_many", "survive_members", "winners", "winners_wide"]

STEWARD = "steward"  # the lineage's rule for a steward's chosen value
# Fields that survive together, from one record: the first (the lead) names the rule. A
# street from one system with the country of another makes an address nobody wrote.
ADDRESS = ("street", "city", "postal_code", "country")
GROUP, GROUP_ANY = "_address", "_address_any"


def winners_wide(members: pl.DataFrame, rules: Mapping[str, SurvivorshipRule],
                 fields: Sequence[str]) -> pl.DataFrame:
    """One row per entity: for each field the member row whose value wins (``<field>__row``, null
    when no source holds one) and the rule that picked it (``<field>__rule``).

    Never depends on the order records were read in: every rule orders its candidates, and
    ties end in source order, then record id. The fields of a group (``ADDRESS``) all name
    the one record that wins the group (see ``group_rankings``).
    """
    if members.height >= 1 << RID_BITS:
        raise ValueError("too many member records for one pass")
    ranked = members.with_columns(pl.col("record_id").rank("ordinal").cast(pl.UInt32).alias(RID) - 1)
    row_of_rid = ranked["row"].gather(ranked[RID].arg_sort())
    group = [f for f in ADDRESS if f in fields]
    deciders = {f: (GROUP if f in group and len(group) > 1 else f) for f in fields}
    rankings = {f: rules[f].rankings(f) for f in fields if deciders[f] == f}
    if GROUP in deciders.values():
        ranked = ranked.with_columns(group_columns(group))
        rankings[GROUP] = group_rankings(rules[group[0]])
    names = {f: [f, *(f"{f}__{i}" for i in range(1, len(r)))] for f, r in rankings.items()}
    keys = {name: ranking.key for f in rankings for name, ranking in zip(names[f], rankings[f], strict=True)}
    best = ranked.select("entity", **keys).group_by("entity").agg(pl.col(name).min() for name in keys)
    labels = pl.Enum(list(dict.fromkeys([*(r.label for f in rankings for r in rankings[f]), STEWARD])))
    picked: dict[str, list[pl.Series | pl.Expr]] = {}
    for f in rankings:
        key = pl.coalesce(names[f]) if len(names[f]) > 1 else pl.col(f)
        row = row_of_rid.gather(best.select((key % (1 << RID_BITS)).cast(pl.UInt32)).to_series())
        label = pl.when(pl.col(names[f][0]).is_not_null()).then(pl.lit(rankings[f][0].label))
        for name, ranking in zip(names[f][1:], rankings[f][1:], strict=True):
            label = label.when(pl.col(name).is_not_null()).then(pl.lit(ranking.label))
        picked[f] = [row, label.cast(labels)]
    columns = [c for f in fields for c in (picked[deciders[f]][0].alias(f"{f}__row"),
                                           picked[deciders[f]][1].alias(f"{f}__rule"))]
    return best.select("entity", *columns)


def group_columns(group: Sequence[str]) -> list[pl.Expr]:
    """A record's whole address as one value: ``GROUP`` where it has the lead field (the
    street), ``GROUP_ANY`` where it has any field of the group."""
    whole = pl.concat_str([pl.col(f).cast(pl.String).fill_null("") for f in group], separator="\x1f")
    return [pl.when(pl.col(group[0]).is_not_null()).then(whole).alias(GROUP),
            pl.when(pl.any_horizontal(pl.col(f).is_not_null() for f in group)).then(whole).alias(GROUP_ANY)]


def group_rankings(lead: SurvivorshipRule) -> list[Ranking]:
    """The lead field's rule over whole addresses: the records that have a street first, then
    those that have any part of the address; one record wins, and every field is its."""
    return [*lead.rankings(GROUP), *lead.rankings(GROUP_ANY)]


def winners(members: pl.DataFrame, rules: Mapping[str, SurvivorshipRule], fields: Sequence[str]) -> pl.DataFrame:
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


def golden_frame(members: pl.DataFrame, rules: Mapping[str, SurvivorshipRule], fields: Sequence[str]) -> pl.DataFrame:
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


def survive_many(entities: Mapping[str, Sequence[MemberRecord]], rules: Mapping[str, SurvivorshipRule],
                 fields: Sequence[str], run_id: str = "",
                 chosen: Mapping[str, Mapping[str, ChosenValue]] | None = None) -> dict[str, Golden]:
    """The golden values of every entity, with their lineage, from one column-wise pass."""
    frame, records = members_frame(entities, fields)
    return survive_members(frame, records, entities, rules, fields, run_id, chosen)


def survive_members(members: pl.DataFrame, records: Sequence[MemberRecord],
                    entities: Mapping[str, Sequence[MemberRecord]], rules: Mapping[str, SurvivorshipRule],
                    fields: Sequence[str], run_id: str = "",
                    chosen: Mapping[str, Mapping[str, ChosenValue]] | None = None) -> dict[str, Golden]:
    """``survive_many`` over a members frame already built: its ``row`` indexes ``records`` and
    its entities are those of ``entities`` (the same members, as Python records)."""
    picks: dict[str, dict[str, tuple[MemberRecord | None, Any, str]]] = {e: {} for e in entities}
    # One wide row per entity (not one long row per entity and field): a tuple per entity.
    columns = [c for f in fields for c in (pl.col(f"{f}__row"), pl.col(f"{f}__rule").cast(pl.String))]
    for entity, *won in winners_wide(members, rules, fields).select("entity", *columns).iter_rows():
        picked = picks[entity]
        for field, row, rule in zip(fields, won[::2], won[1::2], strict=True):
            if row is not None:
                member = records[row]
                picked[field] = (member, member.values.get(field), rule)  # a group's winner may lack a part
    for entity, choices in (chosen or {}).items():
        for field, choice in choices.items():
            if entity in picks and chosen_holds(choice, entities[entity]):
                picks[entity][field] = (_holder(entities[entity], choice), choice.value, STEWARD)
    return {e: _golden(entities[e], picked, run_id) for e, picked in picks.items()}


def survive(members: Sequence[MemberRecord], rules: Mapping[str, SurvivorshipRule], fields: Sequence[str],
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
    # Sorted and named once per entity, not once per field (field_evidence's order and names);
    # a lone record cannot disagree with itself, so it never has evidence to keep.
    named = [(f"{m.system}:{m.record_id}", m.values) for m in sorted(members, key=_key)] if len(members) > 1 else []
    for field, (member, value, rule) in picked.items():
        if value is None:
            continue
        values[field] = value
        lineage[field] = _lineage(member, rule, named, field, run_id)
    return Golden(values=values, lineage=lineage)


def _key(member: MemberRecord) -> RecordKey:
    return (member.system, member.record_id)


def _lineage(member: MemberRecord | None, rule: str, named: Sequence[tuple[str, Mapping[str, Any]]], field: str,
             run_id: str) -> dict[str, Any]:
    """``named``: each member's "system:record_id" and values, in record order (none for a
    lone record)."""
    entry: dict[str, Any] = {"source": member.system if member else STEWARD,
                             "record_id": member.record_id if member else None, "rule": rule, "run": run_id}
    evidence = {name: v for name, values in named if (v := values.get(field)) is not None}
    if len(evidence) > 1 and len({text(v) for v in evidence.values()}) > 1:
        entry["evidence"] = evidence  # kept only where sources disagree: that is what needs explaining
    return entry
