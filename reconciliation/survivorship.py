"""Survivorship: which source's value becomes the golden value, field by field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciliation.records import Golden, MemberRecord

SOURCE_PRIORITY = "source_priority"


def survive(members: Sequence[MemberRecord], priorities: Mapping[str, Sequence[str]],
            fields: Sequence[str]) -> Golden:
    """For each field, the first source in its priority list that holds a value wins.

    Within one system the record with the lowest id wins, so that the result never
    depends on the order records were read in.
    """
    ordered = sorted(members, key=lambda m: m.record_id)
    values: dict[str, object] = {}
    lineage: dict[str, dict[str, str]] = {}
    for field in fields:
        winner = _first_with_value(ordered, priorities[field], field)
        if winner is not None:
            values[field] = winner.values[field]
            lineage[field] = {"source": winner.system, "record_id": winner.record_id,
                              "rule": SOURCE_PRIORITY}
    return Golden(values=values, lineage=lineage)


def _first_with_value(members: Sequence[MemberRecord], sources: Sequence[str],
                      field: str) -> MemberRecord | None:
    for source in sources:
        for member in members:
            if member.system == source and member.values.get(field) is not None:
                return member
    return None
