"""What reconciliation works on: a system's record as canonical values, and what it decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
