"""The review queue's service functions: list, show and resolve what a rule could not decide.

The CLI (`custhub review ...`, `custhub approve RUN`) and the review web page call these
same functions. Resolving an item records a StewardDecision and an AuditEntry and closes
the ReviewItem in one transaction; the next run honours the decision:

- a conflict resolved with a value: survivorship uses that value for that hub id and field
  as its top rule, until a record's value of the field changes to something that is neither
  the chosen value nor what it held when the steward chose (then it expires, and the rules
  decide again); systems corrected to the chosen value keep it;
- a match candidate decided "match": the two records' hub ids are merged now; "not a match":
  the matcher never links the two records again while neither changes materially;
- a run held by a guard: ``approve_run`` marks it approved; ``hub.pipeline.nightly.resume_run``
  then reconciles with the guard lifted and publishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.errors import CusthubError
from core.clock import utcnow
from hub.pipeline.runs import AWAITING_APPROVAL
from hub.store.db import session_scope
from hub.store.models import AuditEntry, CanonicalRecord, GoldenRecord, ReviewItem, Run, StewardDecision, Xref
from hub.xref_ops import merge_in
from mappings.steward_values import steward_value
from core.hashing import content_hash
from reconciliation.decisions import field_evidence, pair_fingerprint
from reconciliation.records import MemberRecord

APPROVED, REJECTED = "approved", "rejected"


class ReviewError(CusthubError):
    """The item or run does not exist, is already closed, or is of another kind."""


@dataclass(frozen=True)
class ReviewView:
    """A review item as the CLI and the web page show it."""

    id: int
    kind: str  # conflict, match_candidate, deleted_at_source
    status: str  # open, resolved, dismissed
    hub_id: str | None
    system: str | None
    record_id: str | None
    other_system: str | None
    other_record_id: str | None
    field: str | None
    candidates: dict[str, Any]
    reason: str
    run_id: str
    created_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None


def list_items(engine: Engine, *, status: str | None = "open", kind: str | None = None,
               limit: int = 200) -> list[ReviewView]:
    """Review items, oldest first; ``status=None`` lists every status."""
    query = select(ReviewItem).order_by(ReviewItem.id).limit(limit)
    if status is not None:
        query = query.where(ReviewItem.status == status)
    if kind is not None:
        query = query.where(ReviewItem.kind == kind)
    with session_scope(engine) as session:
        return [_view(item) for item in session.scalars(query)]


def get_item(engine: Engine, item_id: int) -> ReviewView:
    with session_scope(engine) as session:
        return _view(_item(session, item_id))


def resolve_conflict(engine: Engine, item_id: int, value: Any, actor: str, reason: str) -> int:
    """Choose the golden value of a conflict's field; returns the StewardDecision id.

    ``value`` is one of ``candidates`` or what a steward typed: either way it is read by the
    field's normalizer, as source data is (``mappings.steward_values``), and stored normalized;
    a value the normalizer refuses raises ``RefusedValue`` and nothing is stored. The value
    wins over every survivorship rule from the next run on, until one of the hub's records
    changes its value of that field to a new one (taking the chosen value, as our corrections
    make the systems do, keeps the decision).
    """
    with session_scope(engine) as session:
        item = _open_item(session, item_id, "conflict")
        if item.field is None:
            raise ReviewError(f"review item {item_id} names no field")
        records = _member_records(session, item.hub_id)
        chosen = steward_value(item.field, str(value), _country(session, item.hub_id, records))
        evidence = field_evidence(records, item.field)
        decision = _decide(session, item, actor, reason, kind="choose_value", hub_id=item.hub_id,
                           field=item.field, value={"value": chosen}, fingerprint=content_hash(evidence),
                           evidence=evidence)
        return decision.id


def _country(session: Session, hub_id: str | None, records: list[MemberRecord]) -> str | None:
    """The company's country, to read a national phone number or a VAT ID without prefix."""
    golden = session.scalar(select(GoldenRecord.values).where(GoldenRecord.hub_id == hub_id,
                                                              GoldenRecord.is_current.is_(True)))
    held = [(golden or {}).get("country"), *(r.values.get("country") for r in records)]
    return next((c for c in held if isinstance(c, str) and c), None)


def decide_match(engine: Engine, item_id: int, is_match: bool, actor: str, reason: str) -> int:
    """Decide a match candidate; returns the StewardDecision id.

    A match merges the two records' hub ids now (into the older id); not a match is
    remembered so that the matcher never links the two records while neither changes in
    the fields the match compared (``candidates["material"]``).
    """
    with session_scope(engine) as session:
        item = _open_item(session, item_id, "match_candidate")
        a, b = (item.system, item.record_id), (item.other_system, item.other_record_id)
        evidence = pair_fingerprint(_values(session, a), _values(session, b),
                                    item.candidates.get("material", []))
        decision = _decide(session, item, actor, reason, kind="match" if is_match else "not_match",
                           hub_id=item.hub_id, record_a=f"{a[0]}:{a[1]}", record_b=f"{b[0]}:{b[1]}",
                           fingerprint=evidence)
        hubs = sorted({_hub(session, a), _hub(session, b)} - {None})
        if is_match and len(hubs) == 2:
            merge_in(session, hubs[0], hubs[1], actor, f"match decided on review item {item_id}: {reason}")
        return decision.id


def dismiss(engine: Engine, item_id: int, actor: str, reason: str) -> None:
    """Close an item without a decision (nothing to do; the next run may ask again if it recurs)."""
    with session_scope(engine) as session:
        item = _open_item(session, item_id, None)
        item.status, item.resolved_by, item.resolved_at = "dismissed", actor, utcnow()
        _audit(session, actor, "dismiss", f"review:{item_id}", {"kind": item.kind}, reason)


def approve_run(engine: Engine, run_id: str, actor: str, reason: str | None = None) -> None:
    """Approve a run a guard held (status awaiting_approval); it becomes ``approved``.

    Publishing is a separate step that needs the configuration and the connectors:
    call ``hub.pipeline.nightly.resume_run(config, run_id)`` afterwards (the CLI does both).
    """
    _set_held_run(engine, run_id, APPROVED, actor, "approve", reason)


def reject_run(engine: Engine, run_id: str, actor: str, reason: str) -> None:
    """Refuse a held run: nothing it computed is published; the next run starts afresh."""
    _set_held_run(engine, run_id, REJECTED, actor, "reject", reason)


def held_runs(engine: Engine) -> list[tuple[str, str | None]]:
    """(run id, the guard's message) of every run waiting for approval."""
    with session_scope(engine) as session:
        runs = session.scalars(select(Run).where(Run.status == AWAITING_APPROVAL).order_by(Run.started_at))
        return [(r.id, r.message) for r in runs]


def _set_held_run(engine: Engine, run_id: str, status: str, actor: str, action: str,
                  reason: str | None) -> None:
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        if run is None:
            raise ReviewError(f"no run {run_id}")
        if run.status != AWAITING_APPROVAL:
            raise ReviewError(f"run {run_id} is {run.status}, not {AWAITING_APPROVAL}")
        run.status = status
        _audit(session, actor, action, f"run:{run_id}", {"guard": run.message}, reason)


def _decide(session: Session, item: ReviewItem, actor: str, reason: str, **fields: Any) -> StewardDecision:
    decision = StewardDecision(review_item_id=item.id, decided_by=actor, decided_at=utcnow(),
                               reason=reason, **fields)
    session.add(decision)
    item.status, item.resolved_by, item.resolved_at = "resolved", actor, utcnow()
    session.flush()
    _audit(session, actor, "decide", f"review:{item.id}",
           {"kind": fields["kind"], "decision_id": decision.id, "value": fields.get("value")}, reason)
    return decision


def _audit(session: Session, actor: str, action: str, subject: str, detail: dict[str, Any],
           reason: str | None) -> None:
    session.add(AuditEntry(at=utcnow(), actor=actor, action=action, subject=subject, detail=detail,
                           reason=reason))


def _item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ReviewError(f"no review item {item_id}")
    return item


def _open_item(session: Session, item_id: int, kind: str | None) -> ReviewItem:
    item = _item(session, item_id)
    if item.status != "open":
        raise ReviewError(f"review item {item_id} is already {item.status}")
    if kind is not None and item.kind != kind:
        raise ReviewError(f"review item {item_id} is a {item.kind}, not a {kind}")
    return item


def _member_records(session: Session, hub_id: str | None) -> list[MemberRecord]:
    keys = session.execute(select(Xref.system, Xref.record_id).where(Xref.hub_id == hub_id)).all()
    return [MemberRecord(s, r, _values(session, (s, r))) for s, r in keys]


def _values(session: Session, key: tuple[str | None, str | None]) -> dict[str, Any]:
    row = session.get(CanonicalRecord, key)
    return dict(row.values) if row is not None else {}


def _hub(session: Session, key: tuple[str | None, str | None]) -> str | None:
    row = session.get(Xref, key)
    return row.hub_id if row is not None else None


def _view(item: ReviewItem) -> ReviewView:
    return ReviewView(item.id, item.kind, item.status, item.hub_id, item.system, item.record_id,
                      item.other_system, item.other_record_id, item.field, dict(item.candidates),
                      item.reason, item.run_id, item.created_at, item.resolved_by, item.resolved_at)
