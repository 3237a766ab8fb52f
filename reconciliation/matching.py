"""Deterministic matching: records sharing a normalized strong key are one company.

Incremental: records already linked keep their hub id; new records join the hub id of the
records they share a key with, or get a new one. Two different values of a stronger key
(two different valid IČO) are negative evidence: such groups are never joined.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from reconciliation.records import MemberRecord, RecordKey


@dataclass
class MatchOutcome:
    hub_ids: dict[RecordKey, str] = field(default_factory=dict)
    rules: dict[RecordKey, str] = field(default_factory=dict)  # which key linked a new record
    new_hub_ids: set[str] = field(default_factory=set)
    # records whose keys point at a company they could not join (negative evidence, or
    # already linked elsewhere): for a steward to look at
    candidates: list[tuple[RecordKey, RecordKey, str]] = field(default_factory=list)


class _Groups:
    """Union-find that refuses a union whose groups hold different values of a guarded key."""

    def __init__(self, records: Sequence[MemberRecord], guard: str) -> None:
        self.parent = {r.key: r.key for r in records}
        self.guarded = {r.key: {r.values[guard]} if r.values.get(guard) else set() for r in records}

    def find(self, key: RecordKey) -> RecordKey:
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a: RecordKey, b: RecordKey) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self.guarded[ra] and self.guarded[rb] and self.guarded[ra] != self.guarded[rb]:
            return False
        ra, rb = sorted((ra, rb))
        self.parent[rb] = ra
        self.guarded[ra] |= self.guarded.pop(rb)
        return True


def match(records: Sequence[MemberRecord], existing: Mapping[RecordKey, str],
          keys: Sequence[str], new_hub_id: Callable[[], str]) -> MatchOutcome:
    ordered = sorted(records, key=lambda r: r.key)
    groups, outcome = _Groups(ordered, guard=keys[0]), MatchOutcome()
    linked_by: dict[RecordKey, str] = {}
    for key_field in keys:
        for members in _sharing(ordered, key_field).values():
            for other in members[1:]:
                if groups.union(members[0], other):
                    linked_by.setdefault(other, key_field)
                    linked_by.setdefault(members[0], key_field)
                else:
                    outcome.candidates.append((members[0], other, f"different {keys[0]}"))
    clusters: dict[RecordKey, list[RecordKey]] = defaultdict(list)
    for record in ordered:
        clusters[groups.find(record.key)].append(record.key)
    for members in clusters.values():
        _assign(members, existing, linked_by, new_hub_id, outcome)
    return outcome


def _sharing(records: Sequence[MemberRecord], key_field: str) -> dict[str, list[RecordKey]]:
    by_value: dict[str, list[RecordKey]] = defaultdict(list)
    for record in records:
        if value := record.values.get(key_field):
            by_value[str(value)].append(record.key)
    return {v: keys for v, keys in by_value.items() if len(keys) > 1}


def _assign(members: list[RecordKey], existing: Mapping[RecordKey, str],
            linked_by: Mapping[RecordKey, str], new_hub_id: Callable[[], str],
            outcome: MatchOutcome) -> None:
    known = Counter(existing[m] for m in members if m in existing)
    # The cluster keeps its most common hub id (ties: the oldest id); records already linked
    # to another hub id stay there: joining two golden records is a steward's merge.
    hub_id = min(known, key=lambda h: (-known[h], h)) if known else new_hub_id()
    if not known:
        outcome.new_hub_ids.add(hub_id)
    for member in members:
        current = existing.get(member)
        if current is not None and current != hub_id:
            outcome.candidates.append((member, members[0], f"already linked to {current}"))
        outcome.hub_ids[member] = current or hub_id
        outcome.rules[member] = linked_by.get(member, "single")
