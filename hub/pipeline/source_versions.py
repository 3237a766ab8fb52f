"""Source versions: how new a record is at its source, as text that sorts in time order.

A staged record keeps its source version (``SourceRecord.source_version``); a record read again
with an older one is *stale* and never replaces it (``hub.pipeline.stage``). The version is:

- a source read by a cursor (``connectors.base.IncrementalSource``: the CRM's ModifiedAt, the
  SQL view's watermark column): that field's value, then the record's own version (the CRM's
  Version) as a tiebreak;
- a file export: the date (and time) in its file name, ``customers-20260101.csv`` or
  ``customers-20260101-2200.csv``; a file name without one gives no version.

Values are normalised so that text order is time order: instants to UTC with microseconds
(``t2026-01-01T08:00:00.000000``), numbers zero-padded (``n00000000000000000042``). Two
versions of different shapes (a source re-configured, a row staged before versions existed)
are not comparable, and the newer read wins as before.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from connectors.base import Page, RawRecord

_FILE_DATE = re.compile(r"(?<!\d)(\d{8})(?:[T_.-]?(\d{6}|\d{4}))?(?!\d)")
_SEP = "|"


def with_versions(page: Page, cursor_field: str | None) -> list[RawRecord]:
    """The page's records, each with its source version (a connector's own is kept)."""
    file_version = None if cursor_field else file_date(page.source_name)
    out = []
    for record in page.records:
        if record.source_version is None:  # a new RawRecord: dataclasses.replace is 4x slower
            found = record_version(record, cursor_field) if cursor_field else file_version
            record = RawRecord(record.record_id, record.payload, record.version, record.location,
                               found)
        out.append(record)
    return out


def record_version(record: RawRecord, cursor_field: str) -> str | None:
    first = orderable(record.payload.get(cursor_field))
    if first is None:
        return None
    second = orderable(record.version) if record.version is not None else None
    return first if second is None else f"{first}{_SEP}{second}"


def file_date(name: str | None) -> str | None:
    """The instant in an export's file name (the first run of 8 digits that is a date)."""
    for match in _FILE_DATE.finditer(name or ""):
        day, clock = match.group(1), (match.group(2) or "").ljust(6, "0")
        try:
            return _instant(datetime.strptime(day + clock, "%Y%m%d%H%M%S"))
        except ValueError:
            continue
    return None


def orderable(value: Any) -> str | None:
    """``value`` as text that sorts as the value does; None for None or empty text."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, bool):
        return f"s{value}"
    if isinstance(value, int | Decimal | float):
        return _number(value)
    return _orderable_text(str(value).strip())


@lru_cache(maxsize=1 << 16)
def _orderable_text(text: str) -> str:
    # Cached: a page's versions and instants repeat ("3", the same second), and parsing one
    # (an exception per failed attempt) is most of what staging spends per record.
    try:
        return _instant(datetime.fromisoformat(text))
    except ValueError:
        pass
    try:
        return _number(Decimal(text))
    except (InvalidOperation, ValueError):
        return f"s{text}"


def is_older(incoming: str | None, staged: str | None) -> bool:
    """Whether ``incoming`` is strictly older than ``staged`` (False when either is unknown
    or their shapes differ)."""
    if incoming is None or staged is None or _shape(incoming) != _shape(staged):
        return False
    return incoming < staged


def _shape(version: str) -> tuple[str, ...]:
    return tuple(part[:1] for part in version.split(_SEP))


def _instant(when: datetime) -> str:
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)  # naive values are UTC by convention
    if when.year >= 1000:  # the same text as the format below, written several times faster
        return f"t{when.isoformat(timespec='microseconds')}"
    return f"t{when:%Y-%m-%dT%H:%M:%S.%f}"


def _number(value: int | Decimal | float) -> str:
    """Non-negative numbers zero-padded (watermarks, row versions, sequences sort right);
    a negative one is not a version any source of ours keeps, so it is not ordered."""
    number = Decimal(value)
    if number < 0 or not number.is_finite():
        return f"s{number}"
    if number == number.to_integral_value():
        return f"n{int(number):020d}"
    return f"n{number:030.9f}"
