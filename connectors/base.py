"""The connector contract: read pages with a cursor, write idempotently.

Connectors move bytes. They know no canonical fields and decide nothing: a record is
the system's own field names and values (``RawRecord.payload``), and a write is a set
of the system's own field values for one record (``Write``). Mapping between those and
the canonical Customer lives in ``mappings/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class RawRecord:
    """One record exactly as the system gave it (values JSON-serialisable)."""

    record_id: str
    payload: JsonDict
    version: str | None = None  # the system's concurrency token, echoed on write
    location: str | None = None  # where it came from, e.g. "export/customers-2026.csv:17"
    # How new this record is at its source, as text that sorts in time order (the hub fills
    # it from the cursor field or the file's date when a connector leaves it None)
    source_version: str | None = None


@dataclass(frozen=True)
class RejectedRow:
    """A row that could not even be read into a RawRecord: kept raw, with its reason."""

    raw: str
    reason: str
    location: str | None = None
    record_id: str | None = None


@dataclass(frozen=True)
class Page:
    """A page of records and the cursor that covers it.

    The hub stores the records and the cursor in one transaction, then calls
    ``SourceConnector.acknowledge(page)`` so that the source may let go of what
    the page covered (move an SFTP file to archive/, for instance).
    """

    records: list[RawRecord]
    cursor: JsonDict | None = None
    rejects: list[RejectedRow] = field(default_factory=list)
    source_name: str | None = None  # a file name, a view name: for the ledger and the report
    content_hash: str | None = None  # of the whole unit (file), for the file ledger
    ack_token: str | None = None


@dataclass(frozen=True)
class Write:
    """Values to set on one record of a system, in the system's own field names."""

    idempotency_key: str
    record_id: str
    values: JsonDict
    expected_version: str | None = None


@dataclass(frozen=True)
class WriteRefusal:
    idempotency_key: str
    reason: str
    conflict: bool = False  # the target changed since the hub read it


@dataclass
class WriteResult:
    applied: list[str] = field(default_factory=list)  # idempotency keys applied (or already applied)
    refused: list[WriteRefusal] = field(default_factory=list)


@runtime_checkable
class SourceConnector(Protocol):
    system: str

    def read_pages(self, cursor: JsonDict | None) -> Iterator[Page]:
        """Yield pages of records changed after ``cursor`` (None: everything)."""
        ...

    def acknowledge(self, page: Page) -> None:
        """Called once the hub has stored ``page``; a no-op for most sources."""
        ...


@runtime_checkable
class IncrementalSource(SourceConnector, Protocol):
    """A source read by a ``connectors.cursor.Cursor`` on one field: its ``read_pages`` takes
    that cursor's JSON (a stored one, or a backfill window [start, end)) and honours its end."""

    cursor_field: str


# Told how many of a batch's writes the sink has answered so far (a person watching a long
# publish); a sink that applies its batch at once (a file, a transaction) tells it once.
Progress = Callable[[int], None]


@runtime_checkable
class SinkConnector(Protocol):
    system: str

    def write(self, writes: Sequence[Write], batch_id: str,
              progress: Progress | None = None) -> WriteResult:
        """Apply ``writes``; applying the same batch again changes nothing."""
        ...


@runtime_checkable
class Settleable(Protocol):
    """A sink that can tell, after a crash, which writes of a batch it already received.

    ``writes`` are one batch as it was sent (the same ``Write`` values), claimed by the hub at
    ``since`` (UTC) and maybe sent before the hub died, without the hub learning the outcome.
    ``settle`` only reads the target: ``applied`` names the writes the target holds (or has
    consumed), ``refused`` those it will never take (with the reason); any other write never
    arrived and may be sent again."""

    def settle(self, writes: Sequence[Write], since: datetime) -> WriteResult:
        ...


@runtime_checkable
class Checkable(Protocol):
    def test_connection(self) -> tuple[bool, str]:
        """Like Airflow hooks: (ok, a message safe to show, without secrets)."""
        ...
