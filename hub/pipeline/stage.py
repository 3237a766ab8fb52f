"""Stage: keep every record's raw payload before anything interprets it.

Also where a record's disappearance is recorded: a record a full key scan (or a complete
export file) no longer has is marked ``deleted_at`` and put to a steward as a
"deleted_at_source" ReviewItem; nothing is deleted, least of all the golden record. A
record that comes back has the mark cleared and its open review item dismissed.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from connectors.base import Page, RawRecord, RejectedRow
from core.hashing import content_hash
from core.clock import utcnow
from hub.pipeline.keys import KeyTracker, snapshots
from hub.pipeline.source_versions import is_older, with_versions
from hub.store.bulk import bulk_insert, bulk_update
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

    Set-based: one query for the page's staged hashes, one bulk insert, one bulk update.
    """
    keys = keys if keys is not None else KeyTracker(system)
    counts: Counter[str] = Counter()
    records = keys.admit(session, with_versions(page, cursor_field), run_id, counts)
    plan = _Plan(system, run_id, utcnow())
    known = _staged(session, system, [r.record_id for r in records])
    outcomes = [plan.add(record, known.get(record.record_id)) for record in records]
    before = snapshots(session, system, plan.changed_keys)  # read before the page overwrites them
    plan.write(session)
    for record, outcome in zip(records, outcomes, strict=True):
        keys.staged(record, outcome, before.get(record.record_id))
    counts.update(outcomes)
    counts["reappeared"] += _reappeared(session, system, plan.reappeared)
    counts["rejected"] += quarantine_many(session, system, run_id, "read", [
        (reject_key(r), r.reason, r.raw) for r in page.rejects])
    return counts


class _Staged(NamedTuple):
    """What the comparison needs of a staged record (its payload is not read)."""

    id: int
    content_hash: str
    version: str | None
    source_version: str | None
    deleted_at: datetime | None


def _staged(session: Session, system: str, ids: list[str]) -> dict[str, _Staged]:
    """The staged rows of ``ids``. A page of a file or a scan in key order covers a range of
    keys that holds little else: its rows are read as one range, not 200 IN lists for 100k
    keys (whose parameters cost more than the rows); the keys the range did not give (new
    ones, or ones the store's collation sorts elsewhere) are asked by IN lists."""
    session.flush()  # Core reads below: what the session holds is written first
    connection, known = session.connection(), {}
    columns = (SourceRecord.record_id, SourceRecord.id, SourceRecord.content_hash,
               SourceRecord.version, SourceRecord.source_version, SourceRecord.deleted_at)
    rest = ids
    if len(ids) >= _RANGE_MIN:
        low, high = min(ids), max(ids)
        in_range = (SourceRecord.system == system, SourceRecord.record_id.between(low, high))
        held = connection.scalar(select(func.count()).select_from(SourceRecord).where(*in_range)) or 0
        if held <= _RANGE_SLACK * len(ids):
            wanted = set(ids)
            for part in connection.execute(select(*columns).where(*in_range)).partitions(_READ):
                known.update((row[0], _Staged(*row[1:])) for row in part if row[0] in wanted)
            rest = [i for i in ids if i not in known]
    for chunk in in_chunks(rest):
        known.update((row[0], _Staged(*row[1:])) for row in connection.execute(
            select(*columns).where(SourceRecord.system == system, SourceRecord.record_id.in_(chunk))))
    return known


_RANGE_MIN = 2_000  # keys from which a page's rows are read as a range
_RANGE_SLACK = 2  # a range holding more than this many rows per key of the page is not read
_READ = 10_000


@lru_cache(maxsize=1024)
def _older(incoming: str | None, staged: str | None) -> bool:
    """``is_older``, once per pair: a file's rows all carry its date, and were staged with the
    last file's."""
    return is_older(incoming, staged)


@dataclass
class _Plan:
    """What one page does to the staged records: rows to insert, rows to update."""

    system: str
    run_id: str
    now: datetime
    new: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    changed_keys: list[str] = field(default_factory=list)
    touched: list[dict[str, Any]] = field(default_factory=list)  # unchanged, versions moved
    reappeared: list[str] = field(default_factory=list)

    def add(self, record: RawRecord, row: _Staged | None) -> str:
        digest = content_hash(record.payload)
        if row is None:
            self.new.append({"system": self.system, "record_id": record.record_id,
                             "payload": record.payload, "content_hash": digest,
                             "version": record.version, "source_version": record.source_version,
                             "location": record.location, "fetched_at": self.now,
                             "run_id": self.run_id})
            return "new"
        if _older(record.source_version, row.source_version):
            return "stale"
        if row.deleted_at is not None:  # staged again: it is back at the source
            self.reappeared.append(record.record_id)
        if row.content_hash != digest:
            self.changed_keys.append(record.record_id)
            self.changed.append({"id": row.id, "payload": record.payload, "content_hash": digest,
                                 "run_id": self.run_id, "version": record.version,
                                 "location": record.location, "fetched_at": self.now,
                                 "source_version": record.source_version, "deleted_at": None})
            return "changed"
        source_version = record.source_version or row.source_version
        if (record.version, source_version, None) != (row.version, row.source_version,
                                                       row.deleted_at):
            self.touched.append({"id": row.id, "version": record.version,
                                 "source_version": source_version, "deleted_at": None})
        return "unchanged"

    def write(self, session: Session) -> None:
        table = SourceRecord.__table__
        bulk_insert(session, table, self.new)
        bulk_update(session, table, "id", self.changed)
        _touch(session, self.touched)


def _touch(session: Session, touched: list[dict[str, Any]]) -> None:
    """Unchanged records whose version moved. A file's rows all take its date, and a page of
    it holds records staged together, so their ids run in sequence: rows sharing their new
    version are set by one UPDATE per run of consecutive ids, not one per row (100k rows
    each night for a full export); ids alone, and a source's own per-record versions, row by row."""
    table, alone = SourceRecord.__table__, []
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for row in touched:
        groups[(row["version"], row["source_version"])].append(row["id"])
    runs = []
    for (version, source_version), ids in groups.items():
        for low, high in _runs(sorted(ids)):
            if low == high:
                alone.append({"id": low, "version": version, "source_version": source_version,
                              "deleted_at": None})
            else:
                runs.append({"low": low, "high": high, "v": version, "sv": source_version})
    if runs:  # one executemany: a statement per run would be compiled per run
        session.connection().execute(update(table).where(
            table.c.id.between(bindparam("low"), bindparam("high"))).values(
            version=bindparam("v"), source_version=bindparam("sv"), deleted_at=None), runs)
    bulk_update(session, table, "id", alone)


def _runs(ids: list[int]) -> Iterator[tuple[int, int]]:
    """Sorted distinct ints as (first, last) of each run of consecutive ones."""
    start = previous = None
    for i in ids:
        if previous is not None and i == previous + 1:
            previous = i
            continue
        if start is not None:
            yield start, previous
        start = previous = i
    if start is not None:
        yield start, previous




def reject_key(reject: RejectedRow) -> str:
    return reject.record_id or reject.location or "unknown"


def quarantine(session: Session, system: str, run_id: str, record_key: str, stage: str,
               reason: str, raw: str) -> int:
    """Keep a bad record aside with its reason and raw payload; once per content.
    Returns 1 if new."""
    return quarantine_many(session, system, run_id, stage, [(record_key, reason, raw)])


def quarantine_many(session: Session, system: str, run_id: str, stage: str,
                    bad: Iterable[tuple[str, str, str]]) -> int:
    """``quarantine`` for many (record key, reason, raw payload) at once: one look-up per
    chunk of keys, one bulk insert. Returns how many were new."""
    todo: dict[tuple[str, str], tuple[str, str]] = {}
    for key, reason, raw in bad:
        todo.setdefault((key, content_hash(raw)), (reason, raw))  # the first of a content counts
    keys = sorted({key for key, _ in todo})
    for chunk in in_chunks(keys):
        for found in session.execute(select(Quarantine.record_key, Quarantine.content_hash).where(
                Quarantine.system == system, Quarantine.record_key.in_(chunk))).tuples():
            todo.pop(found, None)
    now = utcnow()
    return bulk_insert(session, Quarantine.__table__, (
        {"run_id": run_id, "system": system, "record_key": key, "content_hash": digest,
         "stage": stage, "reason": reason, "raw_payload": raw, "created_at": now}
        for (key, digest), (reason, raw) in todo.items()))


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
    gone, now, table = sorted(gone), utcnow(), SourceRecord.__table__
    for chunk in in_chunks(gone):
        session.execute(update(table).where(table.c.system == system, table.c.record_id.in_(chunk))
                        .values(deleted_at=now))
        _ask_steward(session, system, chunk, run_id)
    return len(gone)


def _fingerprint(system: str, record_id: str) -> str:
    return hashlib.sha256(f"{DELETED}\0{system}\0{record_id}".encode()).hexdigest()


def _ask_steward(session: Session, system: str, record_ids: Sequence[str], run_id: str) -> None:
    """One review item per record; a record deleted again reopens its item."""
    asked = {item.fingerprint: item for item in session.scalars(select(ReviewItem).where(
        ReviewItem.fingerprint.in_([_fingerprint(system, r) for r in record_ids])))}
    hub_ids = dict(session.execute(select(Xref.record_id, Xref.hub_id).where(
        Xref.system == system, Xref.record_id.in_(record_ids))).tuples().all())
    last = session.execute(
        select(SourceRecord.record_id, SourceRecord.content_hash, SourceRecord.run_id)
        .where(SourceRecord.system == system, SourceRecord.record_id.in_(record_ids))
        .order_by(SourceRecord.record_id))
    new, now = [], utcnow()
    for record_id, digest, staged_by in last:
        reason = (f"{system} record {record_id} is no longer at the source; its golden "
                  "record is kept until a steward decides")
        item = asked.get(_fingerprint(system, record_id))
        if item is None:
            new.append({"kind": DELETED, "status": "open",
                        "fingerprint": _fingerprint(system, record_id),
                        "hub_id": hub_ids.get(record_id), "system": system, "record_id": record_id,
                        "candidates": {"last_content_hash": digest, "last_run_id": staged_by},
                        "reason": reason, "run_id": run_id, "created_at": now})
        elif item.status != "open":
            item.status, item.run_id, item.reason = "open", run_id, reason
            item.resolved_by = item.resolved_at = None
    bulk_insert(session, ReviewItem.__table__, new)


def _reappeared(session: Session, system: str, record_ids: Sequence[str]) -> int:
    """Records staged again after being marked deleted (their mark is cleared by the page's
    update): their open review items are dismissed."""
    for chunk in in_chunks([_fingerprint(system, r) for r in record_ids]):
        for item in session.scalars(select(ReviewItem).where(ReviewItem.fingerprint.in_(chunk),
                                                             ReviewItem.status == "open")):
            item.status, item.resolved_by, item.resolved_at = "dismissed", "custhub", utcnow()
            item.reason += "; it came back at the source"
    return len(record_ids)
