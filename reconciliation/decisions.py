"""What a steward decided, in the form the engine reuses, and when a decision still holds.

A decision is tied to the evidence it was made on: the values the sources held for a field
(a chosen value), or the material fields of two records (match, not a match). When the
evidence changes materially the decision expires: the question is asked again instead of
applying an answer to a different situation.

A chosen value keeps each record's value as it was decided on. A record that now holds the
chosen value agrees with the decision (usually because our own correction reached it), and
one that still holds its old value changed nothing; only a value that is neither (a person
typed something new) expires the decision. The rules then decide the field again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.hashing import content_hash
from reconciliation.records import MemberRecord, RecordKey


def field_evidence(members: Iterable[MemberRecord], field: str) -> dict[str, Any]:
    """Each member's value of ``field``, keyed "system:record_id" (what a chosen value rests on)."""
    return {f"{m.system}:{m.record_id}": m.values.get(field) for m in sorted(members, key=lambda m: m.key)}


def record_fingerprint(values: Mapping[str, Any], material: Sequence[str]) -> str:
    """The fingerprint of the fields that decide a match; other fields may change freely."""
    return content_hash({f: values.get(f) for f in sorted(material)})


def pair_fingerprint(a: Mapping[str, Any], b: Mapping[str, Any], material: Sequence[str]) -> str:
    return content_hash(sorted([record_fingerprint(a, material), record_fingerprint(b, material)]))


@dataclass(frozen=True)
class ChosenValue:
    """A steward's choice for one field of one golden record (StewardDecision choose_value)."""

    hub_id: str
    field: str
    value: Any
    fingerprint: str  # of field_evidence at the time of the decision
    decision_id: int
    # field_evidence at the time of the decision; None for a decision older than that column,
    # which holds only while the fingerprint matches
    evidence: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PairDecision:
    """A steward's match / not-a-match between two records."""

    a: RecordKey
    b: RecordKey
    is_match: bool
    fingerprint: str  # pair_fingerprint at the time of the decision
    decision_id: int


def parse_record_ref(ref: str) -> RecordKey:
    """ "system:record_id" -> (system, record_id); record ids may contain ':'."""
    system, _, record_id = ref.partition(":")
    return (system, record_id)


def chosen_holds(choice: ChosenValue, members: Iterable[MemberRecord]) -> bool:
    now = field_evidence(members, choice.field)
    if choice.evidence is None:
        return content_hash(now) == choice.fingerprint
    return not moved_on(choice, now)


def moved_on(choice: ChosenValue, now: Mapping[str, Any]) -> dict[str, Any]:
    """Records whose value is neither the chosen one nor what they held when it was chosen.

    A record that joined the hub since counts as holding nothing then: with no value of the
    field it changes nothing, with another value it is new evidence.
    """
    decided = choice.evidence or {}
    return {ref: value for ref, value in now.items()
            if not _same(value, choice.value) and not _same(value, decided.get(ref))}


def _same(a: Any, b: Any) -> bool:
    # JSON round trips turn Decimals into strings or floats: compare as text
    return a == b or (a is not None and b is not None and str(a) == str(b))
