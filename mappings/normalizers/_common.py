"""Small helpers shared by the normalizers."""

from __future__ import annotations

from typing import Any

from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

# stdnum's own messages are long sentences; a quarantine reason reads better short.
_STDNUM_REASONS: tuple[tuple[type[ValidationError], str], ...] = (
    (InvalidChecksum, "invalid checksum"),
    (InvalidLength, "invalid length"),
    (InvalidFormat, "invalid format"),
    (InvalidComponent, "invalid component"),
)


def stdnum_reason(exc: ValidationError) -> str:
    for kind, reason in _STDNUM_REASONS:
        if isinstance(exc, kind):
            return reason
    return "invalid"


def as_str(value: Any) -> str:
    """The value as text: registries hand out numbers (ARES ``psc`` 27704) where others use text."""
    return value if isinstance(value, str) else str(value)
