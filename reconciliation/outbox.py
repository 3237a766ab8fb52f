"""The outbox's decisions: which corrections are due, each under its idempotency key.

A correction is keyed by the state it corrects (``reconciliation.diff.correction_key``: the
record, the values to set and the record's state: its content hash and the run that staged
that content): the same correction of the same state is one outbox row however often a run
repeats, and a system that drifts again is corrected again, also when it drifts back to
exactly the content it had when it was first corrected (that content was staged again, by
a later run, after the corrected one: a new state). A row made while its record was
deleted at the source was never sent; when the record comes back as it was, the same
correction is due again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from reconciliation.diff import correction_key, corrections
from reconciliation.records import Difference, RecordKey

# An outbox row whose target record was deleted at its source since the row was made: never
# sent, since the system's import job would create the customer again.
SKIPPED_DELETED = "skipped_deleted"


class SourceState(NamedTuple):
    """What the hub last read of a record: its content hash, the system's version of it and
    the run that staged this content (it changes whenever the content changes, also back)."""

    content_hash: str | None
    version: str | None
    staged_by: str | None = None

    @property
    def state(self) -> str | None:
        """The record's state, as the idempotency key includes it."""
        if self.content_hash is None or self.staged_by is None:
            return self.content_hash
        return f"{self.content_hash}@{self.staged_by}"


class OutboxEntry(NamedTuple):
    key: str  # the idempotency key
    hub_id: str
    system: str
    record_id: str
    values: dict[str, Any]  # the canonical values to set
    expected_version: str | None  # the target refuses the write if its record moved past this


def outbox_entries(differences: Mapping[str, Sequence[Difference]],
                   sources: Mapping[RecordKey, SourceState]) -> list[OutboxEntry]:
    """One entry per record to correct (the differences its system is configured to receive),
    in hub id, then record order."""
    unknown = SourceState(None, None)
    return [OutboxEntry(correction_key(system, record_id, values, source.state), hub_id, system, record_id, values,
                        source.version)
            for hub_id, found in differences.items()
            for (system, record_id), values in corrections(found).items()
            for source in [sources.get((system, record_id), unknown)]]


def due(entries: Sequence[OutboxEntry], statuses: Mapping[str, str]) -> tuple[list[OutboxEntry], list[OutboxEntry]]:
    """The entries to add (no row has their key) and those to send again (their row was skipped
    while the record was deleted); ``statuses`` holds the status of each key's existing row.
    A row in any other status already carries the correction."""
    added = [e for e in entries if e.key not in statuses]
    again = [e for e in entries if statuses.get(e.key) == SKIPPED_DELETED]
    return added, again
