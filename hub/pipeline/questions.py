"""Storing what reconciliation decided for stewards: review questions asked once, decisions expired."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from hub.store.db import IN_LIST_LIMIT, in_chunks
from hub.store.models import ReviewItem, StewardDecision
from reconciliation.records import ReviewQuestion


def ask(session: Session, questions: Sequence[ReviewQuestion], run_id: str) -> int:
    """Queue the questions not asked before (by fingerprint); returns how many were new."""
    asked: set[str] = set()
    for chunk in in_chunks([q.fingerprint for q in questions]):
        asked.update(session.scalars(select(ReviewItem.fingerprint).where(ReviewItem.fingerprint.in_(chunk))))
    new = [q for q in questions if q.fingerprint not in asked]
    now = utcnow()
    session.add_all(ReviewItem(kind=q.kind, fingerprint=q.fingerprint, hub_id=q.hub_id, system=q.system,
                               record_id=q.record_id, other_system=q.other_system,
                               other_record_id=q.other_record_id, field=q.field, candidates=q.candidates,
                               reason=q.reason, run_id=run_id, created_at=now) for q in new)
    return len(new)


def expire(session: Session, decision_ids: Sequence[int]) -> None:
    """Steward decisions whose evidence moved on stop applying (they stay, for the audit)."""
    now = utcnow()
    for start in range(0, len(decision_ids), IN_LIST_LIMIT):
        chunk = decision_ids[start:start + IN_LIST_LIMIT]
        session.execute(update(StewardDecision).where(StewardDecision.id.in_(chunk)).values(expired_at=now))
