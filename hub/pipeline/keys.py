"""Keys a source gives more than once in one extract, and keys a source changed.

Duplicate keys: a view that returns one customer twice cannot say which row is the customer.
Every row of such a key, in one page or across the pages of one extract, is quarantined with
the reason "duplicate key" (raw payload kept); the key's staged record stays as it was before
this extract, so nothing about it is reconciled or corrected this run, and the rest of the
extract goes on. A row of that key staged from an earlier page is taken back when the second
one arrives: ``KeyTracker`` remembers, per extract, what each key's first row did.

Key drift: a record that disappeared (a deletion candidate of this extract) while a new key
appeared with the same content (its fields but the key and the version field) is more likely
re-keyed than deleted and created: a "key_drift" ReviewItem says so to a steward.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import RawRecord
from core.clock import utcnow
from core.hashing import content_hash
from hub.store.db import in_chunks
from hub.store.models import Quarantine, ReviewItem, SourceRecord

DUPLICATE = "duplicate key"
REASON = f"{DUPLICATE}: the source gave more than one row with this key in one read"
KEY_DRIFT = "key_drift"
# What a staged row was before this extract changed it: put back when its key turns out doubled.
_RESTORED = ("payload", "content_hash", "version", "source_version", "location", "fetched_at",
             "run_id", "deleted_at")


@dataclass
class KeyTracker:
    """What one extract of one system did with each key so far."""

    system: str
    first: dict[str, str] = field(default_factory=dict)  # key -> what its one row did
    before: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None: inserted
    stale_rows: dict[str, RawRecord] = field(default_factory=dict)
    duplicated: set[str] = field(default_factory=set)

    def admit(self, session: Session, records: Sequence[RawRecord], run_id: str,
              counts: Counter[str]) -> list[RawRecord]:
        """The records to stage: every row of a doubled key is quarantined instead."""
        groups: dict[str, list[RawRecord]] = defaultdict(list)
        for record in records:
            groups[record.record_id].append(record)
        admitted = []
        for key, rows in groups.items():
            if len(rows) == 1 and key not in self.first and key not in self.duplicated:
                admitted.append(rows[0])
                continue
            if key not in self.duplicated:
                self.duplicated.add(key)
                if key in self.first:
                    self._withdraw(session, key, run_id, counts)
            for row in rows:
                counts["duplicate_key"] += 1
                _quarantine(session, self.system, run_id, key, row.payload)
        return admitted

    def doubled(self, session: Session, key: str, run_id: str, counts: Counter[str]) -> None:
        """A key scan found ``key`` twice: the row this extract staged for it is taken back."""
        if key in self.duplicated:
            return
        self.duplicated.add(key)
        if key in self.first:
            self._withdraw(session, key, run_id, counts)

    def staged(self, record: RawRecord, outcome: str, before: dict[str, Any] | None) -> None:
        """Note what ``record`` did: "new", "changed" (``before``: the row's old columns),
        "unchanged" or "stale"."""
        self.first[record.record_id] = outcome
        if outcome in ("new", "changed"):
            self.before[record.record_id] = before
        elif outcome == "stale":
            self.stale_rows[record.record_id] = record

    @property
    def inserted(self) -> list[str]:
        return [key for key, old in self.before.items() if old is None]

    def _withdraw(self, session: Session, key: str, run_id: str, counts: Counter[str]) -> None:
        """The key's row from an earlier page: quarantined, its staging undone, uncounted."""
        outcome = self.first.pop(key)
        counts[outcome] -= 1
        counts["duplicate_key"] += 1
        # populate_existing: the row was written by bulk statements the session did not see
        row = session.scalar(select(SourceRecord).where(SourceRecord.system == self.system,
                                                        SourceRecord.record_id == key)
                             .execution_options(populate_existing=True))
        stale = self.stale_rows.pop(key, None)
        payload = stale.payload if stale is not None else row.payload if row else {}
        _quarantine(session, self.system, run_id, key, payload)
        if key not in self.before or row is None:
            return
        old = self.before.pop(key)
        if old is None:
            session.delete(row)
            return
        for name, value in old.items():
            setattr(row, name, value)


def snapshots(session: Session, system: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The staged rows of ``keys`` as they are now, to put back if the key turns out doubled."""
    columns = [SourceRecord.__table__.c[name] for name in _RESTORED]
    found: dict[str, dict[str, Any]] = {}
    for chunk in in_chunks(keys):
        for key, *values in session.execute(select(SourceRecord.record_id, *columns).where(
                SourceRecord.system == system, SourceRecord.record_id.in_(chunk))):
            found[key] = dict(zip(_RESTORED, values, strict=True))
    return found


def _quarantine(session: Session, system: str, run_id: str, key: str, payload: Any) -> None:
    raw = json.dumps(payload, ensure_ascii=False, default=str, sort_keys=True)
    digest = content_hash(raw)
    exists = session.scalar(select(Quarantine).where(
        Quarantine.system == system, Quarantine.record_key == key,
        Quarantine.content_hash == digest))
    if exists is None:
        session.add(Quarantine(run_id=run_id, system=system, record_key=key,
                               content_hash=digest, stage="stage", reason=REASON,
                               raw_payload=raw, created_at=utcnow()))
    elif exists.resolved_at is None:  # still doubled: this run's report lists it again
        exists.run_id = run_id


# -- key drift -----------------------------------------------------------------------------

def report_key_drift(session: Session, system: str, run_id: str, appeared: Iterable[str],
                     gone: Iterable[str], ignore: Iterable[str] = ()) -> int:
    """A review item for each key that disappeared while a new one appeared with the same
    content (``ignore``: fields that change with any write, like the watermark)."""
    skip = {name.lower() for name in ignore} | {"version"}
    new = _likeness(session, system, list(appeared), skip)
    old = _likeness(session, system, list(gone), skip)
    by_content = {likeness: key for key, likeness in new.items()}
    found = 0
    for old_key, likeness in sorted(old.items()):
        new_key = by_content.get(likeness)
        if new_key is not None:
            found += _ask(session, system, run_id, old_key, new_key)
    return found


def _likeness(session: Session, system: str, keys: list[str], skip: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in in_chunks(keys):
        for key, payload in session.execute(select(SourceRecord.record_id, SourceRecord.payload)
                                            .where(SourceRecord.system == system,
                                                   SourceRecord.record_id.in_(chunk))):
            out[key] = content_hash({k: v for k, v in payload.items()
                                     if k.lower() not in skip and str(v) != key})
    return out


def _ask(session: Session, system: str, run_id: str, old: str, new: str) -> int:
    fingerprint = hashlib.sha256(f"{KEY_DRIFT}\0{system}\0{old}\0{new}".encode()).hexdigest()
    if session.scalar(select(ReviewItem.id).where(ReviewItem.fingerprint == fingerprint)):
        return 0
    session.add(ReviewItem(
        kind=KEY_DRIFT, fingerprint=fingerprint, system=system, record_id=new,
        other_system=system, other_record_id=old, candidates={"old_key": old, "new_key": new},
        reason=(f"{system} record {old} disappeared and {new} appeared with the same content: "
                "the source has probably re-keyed it, not deleted one company and created "
                "another"), run_id=run_id, created_at=utcnow()))
    return 1
