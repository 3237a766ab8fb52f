"""Dates as Czech people and systems write them: "7. 12. 2026", "07.12.2026" or ISO "2026-12-07"."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from babel.dates import parse_date as babel_parse_date

from mappings.errors import InvalidValue
from mappings.normalizers._common import as_str

LABEL = "date"


def parse_date(value: Any, locale: str = "cs_CZ") -> date:
    """A calendar date; Babel reads the locale's day-month-year order and ISO alike."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = as_str(value).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return babel_parse_date(text, locale=locale)
    except (ValueError, IndexError) as exc:  # Babel raises IndexError on text with too few numbers
        raise InvalidValue(LABEL, "not a date (write 7. 12. 2026 or 2026-12-07)") from exc
