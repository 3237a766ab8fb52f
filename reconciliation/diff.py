"""How each system's record differs from the golden record, and what to correct."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from reconciliation.records import Difference, Golden, MemberRecord, RecordKey


def differences(golden: Golden, members: Sequence[MemberRecord],
                receives: Mapping[str, Sequence[str]],
                carries: Mapping[str, Collection[str]]) -> list[Difference]:
    """Every field a member's system carries where it holds something other than the golden value.

    A golden value that is empty never blanks a system's value; a field the system carries
    but does not receive is reported, not corrected.
    """
    found: list[Difference] = []
    for member in sorted(members, key=lambda m: m.key):
        wanted = set(receives.get(member.system, ()))
        for field, golden_value in sorted(golden.values.items()):
            mine = member.values.get(field)
            if field not in carries.get(member.system, ()) or mine == golden_value:
                continue
            origin = golden.lineage.get(field, {})
            if origin.get("source") == member.system and origin.get("record_id") == member.record_id:
                continue
            found.append(Difference(member.system, member.record_id, field, mine, golden_value,
                                    origin.get("source"), origin.get("rule"), field in wanted))
    return found


def corrections(found: Iterable[Difference]) -> dict[RecordKey, dict[str, Any]]:
    """The values to send, per record, for the differences a system is configured to receive."""
    out: dict[RecordKey, dict[str, Any]] = defaultdict(dict)
    for difference in found:
        if difference.correct:
            out[(difference.system, difference.record_id)][difference.field] = difference.golden_value
    return dict(out)
