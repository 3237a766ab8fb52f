"""The one clock: timezone-aware UTC, so stored times compare across machines."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
