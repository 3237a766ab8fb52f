"""Steward operations on the cross-reference: link, unlink, merge, split, and golden history.

The CLI (`custhub xref ...`) and the review web page call these same functions. Each one
changes the xref in one transaction, records a StewardDecision so that later runs keep
what the steward decided (matching never re-links a record a steward placed), and writes
an AuditEntry (who, when, why). Golden records of the hub ids touched are rebuilt by the
next reconcile run, which also retires a hub id left without records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.errors import CusthubError
from core.clock import utcnow
from hub.store.db import session_scope
from hub.store.models import AuditEntry, AuditHubId, GoldenRecord, StewardDecision, Xref
from reconciliation.linking import STEWARD_RULE  # the rule matching honours: one name for both

RecordKey = tuple[str, str]


class XrefError(CusthubError):
    """A steward operation names a record or hub id that does not exist, or makes no sense."""


@dataclass(frozen=True)
class GoldenVersion:
    hub_id: str
    version: int
    values: dict[str, Any]
    lineage: dict[str, Any]
    run_id: str
    created_at: datetime
    is_current: bool


def link(engine: Engine, system: str, record_id: str, hub_id: str, actor: str, reason: str) -> None:
    """Put one record under ``hub_id`` (moving it from wherever it was)."""
    with session_scope(engine) as session:
        _require_hub(session, hub_id)
        row = _xref(session, system, record_id)
        before = row.hub_id
        _move(session, row, hub_id)
        _decide(session, "match", actor, reason, hub_id, record_a=f"{system}:{record_id}",
                record_b=f"hub:{hub_id}")
        _audit(session, actor, "link", f"{system}:{record_id}", {"from": before, "to": hub_id}, reason)


def unlink(engine: Engine, system: str, record_id: str, actor: str, reason: str) -> str:
    """Take one record out of its hub id into a new hub id of its own; returns the new id."""
    with session_scope(engine) as session:
        row = _xref(session, system, record_id)
        before, new_id = row.hub_id, hub_id_allocator(session)()
        _move(session, row, new_id)
        _decide(session, "not_match", actor, reason, before, record_a=f"{system}:{record_id}",
                record_b=f"hub:{before}")
        _audit(session, actor, "unlink", f"{system}:{record_id}", {"from": before, "to": new_id}, reason)
        return new_id


def merge(engine: Engine, into_hub_id: str, other_hub_id: str, actor: str, reason: str) -> int:
    """Move every record of ``other_hub_id`` under ``into_hub_id``; returns how many moved.

    The other hub id is retired by the next run (its history stays readable).
    """
    with session_scope(engine) as session:
        return merge_in(session, into_hub_id, other_hub_id, actor, reason)


def merge_in(session: Session, into_hub_id: str, other_hub_id: str, actor: str, reason: str) -> int:
    """``merge`` inside a caller's transaction (the review queue merges as it decides a match)."""
    if into_hub_id == other_hub_id:
        raise XrefError(f"cannot merge {into_hub_id} into itself")
    _require_hub(session, into_hub_id)
    rows = _members(session, other_hub_id)
    if not rows:
        raise XrefError(f"hub id {other_hub_id} has no records")
    for row in rows:
        _move(session, row, into_hub_id)
    _decide(session, "merge", actor, reason, into_hub_id, record_a=f"hub:{into_hub_id}",
            record_b=f"hub:{other_hub_id}")
    _audit(session, actor, "merge", into_hub_id,
           {"merged": other_hub_id, "records": [f"{r.system}:{r.record_id}" for r in rows]}, reason)
    return len(rows)


def split(engine: Engine, hub_id: str, records: Sequence[RecordKey], actor: str, reason: str) -> str:
    """Move the named records of ``hub_id`` together under a new hub id; returns the new id."""
    with session_scope(engine) as session:
        members = {(r.system, r.record_id): r for r in _members(session, hub_id)}
        missing = [f"{s}:{r}" for s, r in records if (s, r) not in members]
        if missing or not records:
            raise XrefError(f"not records of {hub_id}: {missing or 'none named'}")
        if len(set(records)) == len(members):
            raise XrefError(f"splitting every record off {hub_id} leaves it empty; nothing to split")
        new_id = hub_id_allocator(session)()
        for key in records:
            _move(session, members[key], new_id)
        _decide(session, "split", actor, reason, hub_id, record_a=f"hub:{hub_id}", record_b=f"hub:{new_id}")
        _audit(session, actor, "split", hub_id,
               {"new_hub_id": new_id, "records": [f"{s}:{r}" for s, r in records]}, reason)
        return new_id


def members(engine: Engine, hub_id: str) -> list[RecordKey]:
    """The (system, record_id) of every record linked to ``hub_id``."""
    with session_scope(engine) as session:
        return [(r.system, r.record_id) for r in _members(session, hub_id)]


def golden_history(engine: Engine, hub_id: str) -> list[GoldenVersion]:
    """Every version of a golden record, oldest first."""
    with session_scope(engine) as session:
        rows = session.scalars(select(GoldenRecord).where(GoldenRecord.hub_id == hub_id)
                               .order_by(GoldenRecord.version))
        return [_version(r) for r in rows]


def golden_at(engine: Engine, hub_id: str, *, at: datetime | None = None,
              version: int | None = None) -> GoldenVersion | None:
    """The golden record as it was at ``at`` (the last version created by then), or version N.

    Neither given: the current version. None when the record did not exist yet.
    """
    history = golden_history(engine, hub_id)
    if version is not None:
        return next((v for v in history if v.version == version), None)
    if at is None:
        return next((v for v in reversed(history) if v.is_current), None)
    earlier = [v for v in history if _comparable(v.created_at) <= _comparable(at)]
    return earlier[-1] if earlier else None


def hub_id_allocator(session: Session) -> Callable[[], str]:
    """A source of fresh hub ids, above every id the xref or the golden history ever used."""
    highest = max(session.scalar(select(func.max(Xref.hub_id))) or "H00000000",
                  session.scalar(select(func.max(GoldenRecord.hub_id))) or "H00000000")
    counter = iter(range(int(highest[1:]) + 1, 10**12))
    return lambda: f"H{next(counter):08d}"


def _comparable(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored in UTC); compare both as naive UTC.
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _version(row: GoldenRecord) -> GoldenVersion:
    return GoldenVersion(row.hub_id, row.version, dict(row.values), dict(row.lineage), row.run_id,
                         row.created_at, row.is_current)


def _xref(session: Session, system: str, record_id: str) -> Xref:
    row = session.get(Xref, (system, record_id))
    if row is None:
        raise XrefError(f"no record {system}:{record_id} in the cross-reference")
    return row


def _members(session: Session, hub_id: str) -> list[Xref]:
    return list(session.scalars(select(Xref).where(Xref.hub_id == hub_id)
                                .order_by(Xref.system, Xref.record_id)))


def _require_hub(session: Session, hub_id: str) -> None:
    known = session.scalar(select(Xref.hub_id).where(Xref.hub_id == hub_id).limit(1))
    if known is None:
        raise XrefError(f"unknown hub id {hub_id}")


def _move(session: Session, row: Xref, hub_id: str) -> None:
    row.hub_id, row.rule, row.linked_at = hub_id, STEWARD_RULE, utcnow()


def _decide(session: Session, kind: str, actor: str, reason: str, hub_id: str | None,
            **fields: Any) -> StewardDecision:
    decision = StewardDecision(kind=kind, hub_id=hub_id, decided_by=actor, decided_at=utcnow(),
                               reason=reason, **fields)
    session.add(decision)
    session.flush()
    return decision


def _audit(session: Session, actor: str, action: str, subject: str, detail: dict[str, Any],
           reason: str | None) -> None:
    entry = AuditEntry(at=utcnow(), actor=actor, action=action, subject=subject, detail=detail,
                       reason=reason)
    session.add(entry)
    session.flush()  # its id, for the hub ids it names
    session.add_all(AuditHubId(audit_id=entry.id, hub_id=h) for h in audit_hub_ids(subject, detail))


XREF_ACTIONS = ("link", "unlink", "merge", "split")
_HUB_ID_KEYS = ("from", "to", "merged", "new_hub_id")  # where an xref operation's detail names hub ids


def audit_hub_ids(subject: str, detail: dict[str, Any]) -> set[str]:
    """The hub ids an xref operation's audit entry names: its subject when that is a hub id
    (merge, split), and the hub ids its records moved from and to."""
    found = {str(detail[k]) for k in _HUB_ID_KEYS if detail.get(k)}
    return found | ({subject} if _is_hub_id(subject) else set())


def _is_hub_id(text: str) -> bool:
    return text.startswith("H") and text[1:].isdigit()


@dataclass(frozen=True)
class MergedAway:
    """Where a merged-away hub id went: the hub id that holds its records now, and each merge
    on the way there (a merged id may itself have been merged later)."""

    hub_id: str  # the survivor
    steps: list[tuple[str, str, str, datetime, str | None]]  # (from, into, by, when, why)


def merged_into(engine: Engine, hub_id: str) -> MergedAway | None:
    """The survivor of ``hub_id`` when a steward merged it away (``merge`` records a decision
    with record_b "hub:<other>"); None while the id still holds records or was never merged."""
    steps: list[tuple[str, str, str, datetime, str | None]] = []
    current, seen = hub_id, {hub_id}
    with session_scope(engine) as session:
        while not _members(session, current):
            decision = session.scalar(select(StewardDecision).where(
                StewardDecision.kind == "merge", StewardDecision.record_b == f"hub:{current}")
                .order_by(StewardDecision.decided_at.desc(), StewardDecision.id.desc()).limit(1))
            into = (decision.record_a or "").removeprefix("hub:") if decision is not None else ""
            if not into or into in seen:  # never merged, or a loop no merge can make: stop here
                break
            steps.append((current, into, decision.decided_by, decision.decided_at, decision.reason))
            current = into
            seen.add(into)
    return MergedAway(current, steps) if steps else None
