"""Errors of the mapping layer: a bad value, a bad record, a bad spec.

A record that cannot be mapped is quarantined with *every* reason at once, field by
field, so that a data steward fixes it in one pass instead of one error per replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError, DataError


class InvalidValue(DataError, ValueError):
    """Raised by a normalizer: ``label`` names the kind of value ("ICO"), ``reason`` says why."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(f"{label}: {reason}")
        self.label = label
        self.reason = reason


@dataclass(frozen=True)
class FieldIssue:
    """One field that could not be mapped: which field, from which source, what value, why."""

    field: str
    source: str
    value: Any
    label: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.label} {self.value!r}: {self.reason}"

    def __str__(self) -> str:
        return self.message


class MappingError(DataError, ValueError):
    """A record that cannot become a Customer; ``issues`` holds every failing field."""

    def __init__(self, issues: Sequence[FieldIssue]) -> None:
        self.issues: tuple[FieldIssue, ...] = tuple(issues)
        super().__init__("; ".join(self.reasons))

    @property
    def reasons(self) -> list[str]:
        return [issue.message for issue in self.issues]


@dataclass(frozen=True)
class SpecProblem:
    key: str  # dotted path inside the YAML document, e.g. "fields.phone.normalizer"
    message: str


class SpecError(ConfigError, ValueError):
    """A mapping spec that cannot be used; names the file and every bad key at once."""

    def __init__(self, source: str, problems: Sequence[SpecProblem]) -> None:
        self.source = source
        self.problems: tuple[SpecProblem, ...] = tuple(problems)
        lines = [f"{source}: {p.key}: {p.message}" if p.key else f"{source}: {p.message}"
                 for p in self.problems]
        super().__init__("\n".join(lines))
