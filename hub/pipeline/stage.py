"""Stage: keep every record's raw payload before anything interprets it.

Also where a record's disappearance is recorded: a record a full key scan (or a complete
export file) no longer has is marked ``deleted_at`` and put to a steward as a
"deleted_at_source" ReviewItem; nothing is deleted, least of all the golden record. A
record that comes back has the mark cleared and its open review item dismissed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import Page, RawRecord, RejectedRow
from core.hashing import content_hash
from core.clock import utcnow
from hub.pipeline.keys import KeyTracker, snapshot
from hub.pipeline.source_versions import is_older, with_versions
from hub.store.db import in_chunks
from hub.store.models import Quarantine, ReviewItem, SourceRecord, Xref

DELETED = "deleted_at_source"


def stage_page(session: Session, system: str, page: Page, run_id: str, *,
               cursor_field: str | None = None, keys: KeyTracker | None = None) -> Counter[str]:
    """Insert new records, update changed ones (by content hash), quarantine unreadable rows.

    Monotonic: a record whose source version (``hub.pipeline.source_versions``; ``cursor_field``
    is the source's, None for files) is older than the staged one's is not staged and counts
    as ``stale``; an equal version with other content is staged (a correction at the source
    that did not bump the version). Keys doubled within the extract (``keys`` tracks it across
    pages; without it, within this page) are quarantined, see ``hub.pipeline.keys``.
    """
    keys = keys if keys is not None else KeyTracker(system)
    counts: Counter[str] = Counter()
    records = keys.admit(session, with_versions(page, cursor_field), run_id, counts)
    ids = [r.record_id for r in records]
    known: dict[str, SourceRecord] = {}
    for chunk in in_chunks(ids):
        known.update((s.record_id, s) for s in session.scalars(select(SourceRecord).where(
            SourceRecord.system == system, SourceRecord.record_id.in_(chunk))))
    for record in records:
        row = known.get(record.record_id)
        before = snapshot(row) if row is not None else None
        outcome = _stage_one(session, system, record, row, run_id)
        keys.staged(record, outcome, before)
        counts[outcome] += 1
        if outcome != "stale" and row is not None and row.deleted_at is not None:
            counts["reappeared"] += _reappeared(session, row)
    for reject in page.rejects:
        counts["rejected"] += quarantine(session, system, run_id, reject_key(reject), "read",
                                         reject.reason, reject.raw)
    return counts


def _stage_one(session: Session, system: str, record: RawRecord, row: SourceRecord | None,
               run_id: str) -> str:
    digest = content_hash(record.payload)
    if row is None:
        session.add(SourceRecord(system=system, record_id=record.record_id, payload=record.payload,
                                 content_hash=digest, version=record.version,
                                 source_version=record.source_version, location=record.location,
                                 fetched_at=utcnow(), run_id=run_id))
        return "new"
    if is_older(record.source_version, row.source_version):
        return "stale"
    if row.content_hash != digest:
        row.payload, row.content_hash, row.run_id = record.payload, digest, run_id
        row.version, row.location, row.fetched_at = record.version, record.location, utcnow()
        row.source_version = record.source_version
        return "changed"
    row.version = record.version
    row.source_version = record.source_version or row.source_version
    return "unchanged"


def reject_key(reject: RejectedRow) -> str:
    return reject.record_id or reject.location or "unknown"


def quarantine(session: Session, system: str, run_id: str, record_key: str, stage: str,
               reason: str, raw: str) -> int:
    """Keep a bad record aside with its reason and raw payload; once per content. Returns 1 if new."""
    digest = content_hash(raw)
    exists = session.scalar(select(Quarantine.id).where(
        Quarantine.system == system, Quarantine.record_key == record_key,
        Quarantine.content_hash == digest))
    if exists is not None:
        return 0
    session.add(Quarantine(run_id=run_id, system=system, record_key=record_key, content_hash=digest,
                           stage=stage, reason=reason, raw_payload=raw, created_at=utcnow()))
    return 1


def missing_at_source(session: Session, system: str,
                      present: Iterable[str]) -> tuple[list[str], int]:
    """The staged live records of ``system`` missing from ``present`` (every key the source
    has now, streamed), sorted, and how many live records there were."""
    live = set(session.scalars(select(SourceRecord.record_id).where(
        SourceRecord.system == system, SourceRecord.deleted_at.is_(None))))
    total = len(live)
    for key in present:
        live.discard(key)
    return sorted(live), total


def mark_deleted(session: Session, system: str, gone: Iterable[str], run_id: str) -> int:
    """Mark the staged records ``gone`` (``missing_at_source``) as deleted at the source,
    each with a review item. Returns how many. (Whether to: ``guards.check_deletion_share``.)"""
    gone, now = sorted(gone), utcnow()
    for chunk in in_chunks(gone):
        for row in session.scalars(select(SourceRecord).where(
                SourceRecord.system == system, SourceRecord.record_id.in_(chunk))):
            row.deleted_at = now
            _ask_steward(session, row, run_id)
    return len(gone)


def _fingerprint(system: str, record_id: str) -> str:
    return hashlib.sha256(f"{DELETED}\0{system}\0{record_id}".encode()).hexdigest()


def _ask_steward(session: Session, row: SourceRecord, run_id: str) -> None:
    """One review item per record; a record deleted again reopens its item."""
    fingerprint = _fingerprint(row.system, row.record_id)
    item = session.scalar(select(ReviewItem).where(ReviewItem.fingerprint == fingerprint))
    reason = (f"{row.system} record {row.record_id} is no longer at the source; its golden "
              "record is kept until a steward decides")
    if item is None:
        xref = session.get(Xref, (row.system, row.record_id))
        session.add(ReviewItem(
            kind=DELETED, fingerprint=fingerprint, hub_id=xref.hub_id if xref else None,
            system=row.system, record_id=row.record_id, reason=reason, run_id=run_id,
            candidates={"last_content_hash": row.content_hash, "last_run_id": row.run_id},
            created_at=utcnow()))
    elif item.status != "open":
        item.status, item.run_id, item.reason = "open", run_id, reason
        item.resolved_by = item.resolved_at = None


def _reappeared(session: Session, row: SourceRecord) -> int:
    row.deleted_at = None
    item = session.scalar(select(ReviewItem).where(
        ReviewItem.fingerprint == _fingerprint(row.system, row.record_id),
        ReviewItem.status == "open"))
    if item is not None:
        item.status, item.resolved_by, item.resolved_at = "dismissed", "custhub", utcnow()
        item.reason += "; it came back at the source"
    return 1
