"""Survivorship: which source's value becomes the golden value, field by field.

Each rule is a small class with one method, ``pick``; hub.yaml names a rule and its
sources per field. A steward's chosen value, while its evidence holds, comes before every
rule. Each golden value carries its lineage: source system, record, rule, run and, when
the sources disagree, the evidence (every source's value).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reconciliation.decisions import ChosenValue, chosen_holds, field_evidence
from reconciliation.records import Golden, MemberRecord

SOURCE_PRIORITY, MOST_RECENT, MOST_FREQUENT = "source_priority", "most_recent", "most_frequent"
REGISTRY, FIRST_NON_EMPTY, STEWARD = "registry", "first_non_empty", "steward"


@dataclass(frozen=True)
class Pick:
    member: MemberRecord | None  # None: a steward's value, no record holds it
    value: Any
    rule: str


@dataclass(frozen=True)
class FieldRule:
    rule: str
    sources: tuple[str, ...]


class Rule(Protocol):
    def pick(self, members: Sequence[MemberRecord], field: str, sources: Sequence[str]) -> Pick | None: ...


def _holding(members: Sequence[MemberRecord], field: str, sources: Sequence[str]) -> list[MemberRecord]:
    """Members of the listed sources with a value, in source order, then record id."""
    rank = {s: i for i, s in enumerate(sources)}
    found = [m for m in members if m.system in rank and m.values.get(field) is not None]
    return sorted(found, key=lambda m: (rank[m.system], m.record_id))


class SourcePriority:
    """The first source in the list that holds a value (lowest record id within a system)."""

    def pick(self, members: Sequence[MemberRecord], field: str, sources: Sequence[str]) -> Pick | None:
        found = _holding(members, field, sources)
        return Pick(found[0], found[0].values[field], SOURCE_PRIORITY) if found else None


class MostRecent:
    """The value of the record whose content changed last; ties by source order."""

    def pick(self, members: Sequence[MemberRecord], field: str, sources: Sequence[str]) -> Pick | None:
        found = _holding(members, field, sources)
        if not found:
            return None
        latest = max(found, key=lambda m: (m.seen_at or "", -found.index(m)))
        return Pick(latest, latest.values[field], MOST_RECENT)


class MostFrequent:
    """The value most records agree on; ties go to the value of the higher-priority source."""

    def pick(self, members: Sequence[MemberRecord], field: str, sources: Sequence[str]) -> Pick | None:
        found = _holding(members, field, sources)
        if not found:
            return None
        counts = Counter(_key(m.values[field]) for m in found)
        best = max(found, key=lambda m: (counts[_key(m.values[field])], -found.index(m)))
        return Pick(best, best.values[field], MOST_FREQUENT)


class FirstNonEmpty:
    """The value of the record that held one first (the oldest content), e.g. a customer's start terms."""

    def pick(self, members: Sequence[MemberRecord], field: str, sources: Sequence[str]) -> Pick | None:
        found = _holding(members, field, sources)
        if not found:
            return None
        first = min(found, key=lambda m: (m.seen_at or "~", found.index(m)))
        return Pick(first, first.values[field], FIRST_NON_EMPTY)


class RegistryAuthoritative:
    """The registry (the first source listed) decides when it knows the company; otherwise the
    value most of the other sources agree on."""

    def pick(self, members: Sequence[MemberRecord], field: str, sources: Sequence[str]) -> Pick | None:
        registry = _holding(members, field, sources[:1])
        if registry:
            return Pick(registry[0], registry[0].values[field], REGISTRY)
        rest = MostFrequent().pick(members, field, sources[1:])
        return Pick(rest.member, rest.value, f"{REGISTRY}:{MOST_FREQUENT}") if rest else None


RULES: dict[str, Rule] = {SOURCE_PRIORITY: SourcePriority(), MOST_RECENT: MostRecent(),
                          MOST_FREQUENT: MostFrequent(), FIRST_NON_EMPTY: FirstNonEmpty(),
                          REGISTRY: RegistryAuthoritative()}


def survive(members: Sequence[MemberRecord], rules: Mapping[str, FieldRule], fields: Sequence[str],
            run_id: str = "", chosen: Mapping[str, ChosenValue] | None = None) -> Golden:
    """The golden values of one entity, with their lineage.

    Never depends on the order records were read in: every rule orders its candidates.
    """
    values: dict[str, Any] = {}
    lineage: dict[str, dict[str, Any]] = {}
    for field in fields:
        pick = _steward(members, (chosen or {}).get(field))
        if pick is None:
            rule = rules[field]
            pick = RULES[rule.rule].pick(members, field, rule.sources)
        if pick is None or pick.value is None:
            continue
        values[field] = pick.value
        lineage[field] = _lineage(pick, members, field, run_id)
    return Golden(values=values, lineage=lineage)


def _steward(members: Sequence[MemberRecord], choice: ChosenValue | None) -> Pick | None:
    if choice is None or not chosen_holds(choice, members):
        return None
    holder = next((m for m in sorted(members, key=lambda m: m.key)
                   if m.values.get(choice.field) == choice.value), None)
    return Pick(holder, choice.value, STEWARD)


def _lineage(pick: Pick, members: Sequence[MemberRecord], field: str, run_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"source": pick.member.system if pick.member else STEWARD,
                             "record_id": pick.member.record_id if pick.member else None,
                             "rule": pick.rule, "run": run_id}
    evidence = {k: v for k, v in field_evidence(members, field).items() if v is not None}
    if len({_key(v) for v in evidence.values()}) > 1:
        entry["evidence"] = evidence  # kept only where sources disagree: that is what needs explaining
    return entry


def _key(value: Any) -> str:
    return str(value)
