"""Stage: keep every record's raw payload before anything interprets it."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import Page, RejectedRow
from hub.pipeline.context import content_hash, utcnow
from hub.store.models import Quarantine, SourceRecord


def stage_page(session: Session, system: str, page: Page, run_id: str) -> Counter[str]:
    """Insert new records, update changed ones (by content hash), quarantine unreadable rows."""
    counts: Counter[str] = Counter()
    ids = [r.record_id for r in page.records]
    known = {s.record_id: s for s in session.scalars(
        select(SourceRecord).where(SourceRecord.system == system, SourceRecord.record_id.in_(ids)))}
    for record in page.records:
        digest = content_hash(record.payload)
        row = known.get(record.record_id)
        if row is None:
            session.add(SourceRecord(system=system, record_id=record.record_id, payload=record.payload,
                                     content_hash=digest, version=record.version, location=record.location,
                                     fetched_at=utcnow(), run_id=run_id))
            counts["new"] += 1
        elif row.content_hash != digest:
            row.payload, row.content_hash, row.run_id = record.payload, digest, run_id
            row.version, row.location, row.fetched_at = record.version, record.location, utcnow()
            counts["changed"] += 1
        else:
            row.version = record.version
            counts["unchanged"] += 1
    for reject in page.rejects:
        counts["rejected"] += quarantine(session, system, run_id, reject_key(reject), "read",
                                         reject.reason, reject.raw)
    return counts


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
