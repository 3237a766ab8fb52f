"""What reconciliation works on: a system's record as canonical values, and what it decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

RecordKey = tuple[str, str]  # (system, record_id)


@dataclass(frozen=True)
class MemberRecord:
    """One system's record of a company, mapped to canonical values (JSON-ready)."""

    system: str
    record_id: str
    values: dict[str, Any]
    seen_at: str | None = None  # ISO time the hub first saw this content (for "most recent")

    @property
    def key(self) -> RecordKey:
        return (self.system, self.record_id)


@dataclass(frozen=True)
class Golden:
    values: dict[str, Any]
    # per field: source, record_id, rule, run and (when sources disagree) evidence {system:record: value}
    lineage: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Difference:
    system: str
    record_id: str
    field: str
    system_value: Any
    golden_value: Any
    source: str | None
    rule: str | None
    correct: bool  # the system is configured to receive this field


class XrefEntry(NamedTuple):
    """A record's place in the xref as loaded: plain values, not ORM objects (there are millions)."""

    hub_id: str
    rule: str
    source_hash: str | None  # the content the record had when it was last reconciled
    deleted: bool | None = None  # whether it was deleted at its source then (None: not known)


@dataclass
class RecordSet:
    """Every record one reconcile works on, as the store holds them."""

    members: list[MemberRecord]  # ordered by system, then record id
    hashes: dict[RecordKey, str]  # each record's current content hash
    xref: dict[RecordKey, XrefEntry]
    deleted: set[RecordKey]  # deleted at their source
    moved: set[RecordKey] = field(init=False)  # taken at load, before this run updates the xref

    def __post_init__(self) -> None:
        self.moved = {k for k, row in self.xref.items()
                      if k in self.hashes and row.source_hash is not None and row.source_hash != self.hashes[k]}

    def changed(self, key: RecordKey) -> bool:
        """Content moved on since the record was last reconciled (unknown counts as unchanged)."""
        return key in self.moved


@dataclass(frozen=True)
class CurrentGolden:
    """The current version of a hub id's golden record, as stored."""

    version: int
    values: dict[str, Any]
    lineage: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class ReviewQuestion:
    """Something no rule may decide, for the review queue; the same question (fingerprint, a
    content hash of what is asked) is asked once."""

    kind: str  # conflict, match_candidate
    fingerprint: str
    hub_id: str | None
    system: str
    record_id: str
    candidates: dict[str, Any]
    reason: str
    field: str | None = None
    other_system: str | None = None
    other_record_id: str | None = None
