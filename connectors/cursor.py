"""The one cursor of every incremental source: where a read starts, and where it stops.

A read covers the records whose (value, key) sorts after (``start``, ``key``) and whose value is
before ``end``:

- closed start: records stamped exactly ``start`` are read ...
- ... de-duplicated on the key at the boundary: at ``start``, only records whose key sorts after
  ``key``. The empty key sorts before every key, so ``key=""`` reads the whole instant. Sources
  read in (value, key) order, so the cursor after a page is the (value, key) of its last record:
  records that share a value across a page boundary are neither lost nor read twice;
- open end: a record stamped ``end`` or later is left to the next window. ``end=None`` reads to
  the newest record (the scheduled runs); a backfill reads [start, end) and its cursor is never
  stored, so the scheduled cursor stays where it was.

Modelled on dlt's ``Incremental`` (closed start, open end, primary-key de-duplication at the
boundary) and the Airbyte CDK's cursor (a position observed record by record).

The hub stores ``to_json()`` as it is: ``{"field", "start", "key", "end"}``. Cursors stored before
this module existed are read too: the CRM's ``{"modified_at", "id"}`` and the SQL view's
``{"watermark", "key"}``; both become ``field=None`` (the field was not recorded then).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from connectors.errors import ConnectorConfigError

JsonDict = dict[str, Any]


def _instant(value: object) -> object:
    """ISO 8601 text or a datetime; pydantic's lax mode would also take a number as epoch
    seconds, which no cursor of ours ever stored."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    if value is None or isinstance(value, datetime):
        return value
    raise ValueError("not an ISO 8601 instant")


# Written with isoformat(), as the cursors stored before were: "+00:00", never "Z".
Instant = Annotated[datetime | None, BeforeValidator(_instant),
                    PlainSerializer(lambda when: when and when.isoformat(), when_used="json")]


class Cursor(BaseModel):
    """[start, end) over one field, with the key as tiebreak at ``start``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str | None = None  # the source field it follows (None: stored before it was recorded)
    start: Instant = None  # closed; None: from the first record
    key: str = ""  # at ``start``, only keys after this one
    end: Instant = None  # open; None: no end

    @model_validator(mode="before")
    @classmethod
    def _legacy_shapes(cls, raw: Any) -> Any:
        if isinstance(raw, Mapping) and "modified_at" in raw:  # CrmSoapConnector before
            return {"start": raw["modified_at"], "key": str(raw.get("id") or "")}
        if isinstance(raw, Mapping) and {"watermark", "key"} <= raw.keys():  # ViewCursor before
            return {"start": raw["watermark"], "key": str(raw["key"])}
        return raw  # anything else must be the current shape (extra keys are refused)

    @model_validator(mode="after")
    def _a_window(self) -> Cursor:
        if self.start is not None and self.end is not None:
            if (self.start.tzinfo is None) != (self.end.tzinfo is None):
                raise ValueError("start and end must both have a time zone, or neither")
            if self.end < self.start:
                raise ValueError("end is before start")
        return self

    # --- the store -----------------------------------------------------------------------------

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None, *, system: str | None = None,
                  field: str | None = None) -> Cursor:
        """The stored cursor (None or {}: from the beginning); ``field``, when given, must be
        the one the cursor was taken on: a cursor on another column would skip or repeat."""
        if not raw:
            return cls(field=field)
        try:
            cursor = cls.model_validate(dict(raw))
        except ValidationError as e:
            raise ConnectorConfigError(f"stored cursor {dict(raw)!r} is not a cursor: "
                                       f"{e.errors()[0]['msg']}", system=system) from e
        if field is not None and cursor.field not in (None, field):
            raise ConnectorConfigError(f"stored cursor follows {cursor.field!r}, the source is "
                                       f"read by {field!r}: reset the cursor", system=system)
        return cursor.model_copy(update={"field": field or cursor.field})

    def to_json(self) -> JsonDict | None:
        """None for "from the beginning, no end", which is what the store holds as no cursor."""
        if self.start is None and self.end is None:
            return None
        return self.model_dump(mode="json")

    # --- moving --------------------------------------------------------------------------------

    @classmethod
    def window(cls, field: str | None, start: datetime, end: datetime | None) -> Cursor:
        """A backfill's window: [start, end), every key at ``start``."""
        return cls(field=field, start=start, end=end)

    def after(self, value: datetime | None, key: str) -> Cursor:
        """The position after a record read; never behind where the cursor already is (a
        source that re-reads an overlap must not move the cursor back)."""
        if value is None or (self.start is not None and (value, key) <= (self.start, self.key)):
            return self
        return self.model_copy(update={"start": value, "key": key})

    def reopened(self) -> Cursor:
        """The same start with every key at it: for a source whose records can commit late
        with the instant of one already read (the hub skips the re-read ones by hash)."""
        return self.model_copy(update={"key": ""})

    def rewound(self, by: timedelta) -> Cursor:
        """Start ``by`` earlier, every key: re-delivers what committed late within ``by``."""
        if self.start is None or not by:
            return self
        return self.model_copy(update={"start": self.start - by, "key": ""})

    def zoned(self, *, aware: bool) -> Cursor:
        """Start and end as the source compares them: aware instants, or naive ones holding UTC
        (this hub's convention for columns without a time zone). Naive input is taken as UTC;
        an instant already of the wanted sort is left as it is."""
        def convert(when: datetime | None) -> datetime | None:
            if when is None or (when.tzinfo is not None) == aware:
                return when
            return when.replace(tzinfo=UTC) if aware else when.astimezone(UTC).replace(tzinfo=None)
        return self.model_copy(update={"start": convert(self.start), "end": convert(self.end)})

    # --- reading -------------------------------------------------------------------------------

    def admits(self, value: datetime, key: str) -> bool:
        """Whether a record stamped ``value`` with ``key`` lies in this cursor's range."""
        after_start = self.start is None or (value, key) > (self.start, self.key)
        return after_start and not self.past_end(value)

    def past_end(self, value: datetime) -> bool:
        return self.end is not None and value >= self.end

    def where(self, value: sa.ColumnElement[Any], key: sa.ColumnElement[Any]
              ) -> sa.ColumnElement[bool]:
        """``admits`` as a SQL condition, for a source that reads in (value, key) order."""
        conditions: list[sa.ColumnElement[bool]] = []
        if self.start is not None:
            conditions.append(value >= self.start if not self.key else sa.or_(
                value > self.start, sa.and_(value == self.start, key > self.key)))
        if self.end is not None:
            conditions.append(value < self.end)
        return sa.and_(sa.true(), *conditions)
