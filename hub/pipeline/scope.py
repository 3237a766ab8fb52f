"""What one reconcile looks at: the whole estate, or the change set and what it touches.

docs/adr/0005-incremental-reconcile.md. The change set is read from the store on indexed or
narrow columns: records whose content or deletion state moved on since the xref last saw
them, new records, steward decisions and xref moves made since the last reconcile, and hub ids
a conflict held. ``reconciliation.scope`` closes it over what matching and survivorship join
records by. A full run is made the first time, every ``reconcile.full_every_days``, when a
full run is asked for, and whenever the rules changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import polars as pl
from sqlalchemy import String, and_, cast, exists, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.hashing import content_hash
from hub.pipeline.context import RunContext
from hub.pipeline.golden import run_rules
from hub.pipeline.registries import EVIDENCED_FIELDS
from hub.store.bulk import temporary_keys
from hub.store.models import (AuditEntry, CanonicalRecord, Discrepancy, Outbox, ReconcileState, SourceRecord, StewardDecision,
                              Xref)
from reconciliation.decisions import parse_record_ref
from reconciliation.linking import STEWARD_RULE
from reconciliation.matching.fellegi_sunter import Model
from reconciliation.outbox import SKIPPED_DELETED
from reconciliation.records import RecordKey
from reconciliation.scope import HUB, SEED, UNPINNED, scope_mask

STATE = "reconcile"
FULL_ASKED = "full run asked for"  # in place of the rules' fingerprint: the next run is full
_BATCH = 100_000  # rows of the key frame read at a time
_HUB_FIELDS = ("from", "to", "merged", "new_hub_id")  # audit details naming hub ids (hub.xref_ops)


@dataclass
class Scope:
    """A full run (``keys`` None) or the records and hub ids an incremental run reconsiders."""

    full: bool
    reason: str
    rules: str  # fingerprint of the rules this run decides with
    keys: list[RecordKey] | None = None  # the records to load; None: every record
    hubs: set[str] = field(default_factory=set)  # hub ids to decide again, beyond the records' own
    model: Model | None = None  # the stored match model (incremental runs score with it)
    previous_run: str | None = None  # the run whose discrepancies the unaffected hub ids keep
    decision_id: int = 0  # the highest steward decision and audit entry this run reads
    audit_id: int = 0


def plan(session: Session, ctx: RunContext, full: bool = False) -> Scope:
    state = session.get(ReconcileState, STATE)
    rules = rules_fingerprint(ctx)
    decision_id = session.scalar(select(func.max(StewardDecision.id))) or 0
    audit_id = session.scalar(select(func.max(AuditEntry.id))) or 0
    why = _why_full(ctx, state, rules, full)
    if why is not None or state is None:
        return Scope(True, why or "first run", rules, decision_id=decision_id, audit_id=audit_id)
    hubs, pairs = _decided_since(session, state)
    hubs |= set(state.held.get("hub_ids", [])) | _skipped_back(session)
    frame = key_frame(session, ctx)
    mask = scope_mask(frame, ctx.config.matching, hubs, pairs)
    chosen = frame.filter(mask)
    if state.model is None and _to_score(chosen, ctx):
        return Scope(True, "records to match and no trained model", rules, decision_id=decision_id,
                     audit_id=audit_id)
    keys = list(chosen.select("system", "record_id").iter_rows())
    return Scope(False, "changes", rules, keys, hubs | set(chosen.get_column(HUB).drop_nulls()),
                 _model(state.model, ctx.config.matching.training.monotone_levels), state.run_id, decision_id,
                 audit_id)


def _to_score(chosen: pl.DataFrame, ctx: RunContext) -> bool:
    """Whether the Linker scores pairs in this scope: a record it places again has no key."""
    settings = ctx.config.matching
    no_key = pl.all_horizontal([pl.col(k).is_null() for k in settings.keys])
    return settings.probabilistic and chosen.filter(pl.col(UNPINNED) & no_key).height > 0


def _why_full(ctx: RunContext, state: ReconcileState | None, rules: str, asked: bool) -> str | None:
    if asked:
        return "asked for"
    if state is None:
        return None
    if state.rules == FULL_ASKED:
        return "asked for"
    if state.rules != rules:
        return "rules changed"
    every = timedelta(days=ctx.config.reconcile.full_every_days)
    if _naive(utcnow()) - _naive(state.full_at) >= every:
        return f"last full run {ctx.config.reconcile.full_every_days} days ago or more"
    return None


def _naive(moment: Any) -> Any:
    # SQLite hands back naive datetimes (stored in UTC)
    return moment.replace(tzinfo=None)


def rules_fingerprint(ctx: RunContext) -> str:
    """What the decisions of every hub id depend on beyond its records: a change means a full run."""
    run = run_rules(ctx)
    return content_hash({
        "matching": ctx.config.matching.model_dump(mode="json"),
        "survivorship": ctx.config.survivorship.model_dump(mode="json"),
        "systems": sorted(run.systems), "vouches": {k: sorted(v) for k, v in EVIDENCED_FIELDS.items()},
        "carries": {k: sorted(v) for k, v in run.carries.items()},
        "receives": {k: sorted(v) for k, v in run.receives.items()}})


def _decided_since(session: Session, state: ReconcileState) -> tuple[set[str], list[tuple[RecordKey, RecordKey]]]:
    """Hub ids a steward touched since the last reconcile (decisions, xref moves), and every
    unexpired match / not-a-match pair (a few: the scope follows them)."""
    hubs: set[str] = set()
    pairs: list[tuple[RecordKey, RecordKey]] = []
    for hub_id, kind, a, b, decision_id, expired in session.execute(select(
            StewardDecision.hub_id, StewardDecision.kind, StewardDecision.record_a, StewardDecision.record_b,
            StewardDecision.id, StewardDecision.expired_at).where(or_(
            StewardDecision.id > state.decision_id,
            and_(StewardDecision.kind.in_(["match", "not_match"]), StewardDecision.expired_at.is_(None))))):
        refs = [parse_record_ref(r or "") for r in (a, b)]
        if decision_id > state.decision_id:
            hubs |= {hub_id} if hub_id else set()
            hubs |= {record for system, record in refs if system == "hub"}
        if kind in ("match", "not_match") and expired is None and all(s != "hub" for s, _ in refs):
            pairs.append((refs[0], refs[1]))
    for subject, detail in session.execute(select(AuditEntry.subject, AuditEntry.detail)
                                           .where(AuditEntry.id > state.audit_id)):
        named = [subject, *[(detail or {}).get(k) for k in _HUB_FIELDS]]
        hubs |= {h for h in named if isinstance(h, str) and h.startswith("H") and h[1:].isdigit()}
    return hubs, pairs


def _skipped_back(session: Session) -> set[str]:
    """Hub ids of corrections skipped while their record was deleted, the record now back: due again."""
    live = and_(SourceRecord.system == Outbox.system, SourceRecord.record_id == Outbox.record_id,
                SourceRecord.deleted_at.is_(None))
    return set(session.scalars(select(Outbox.hub_id).join(SourceRecord, live)
                               .where(Outbox.status == SKIPPED_DELETED).distinct()))


def key_frame(session: Session, ctx: RunContext) -> pl.DataFrame:
    """Every record's change flags, xref hub id and the columns the match rules read: narrow
    columns, read in batches of Core rows."""
    settings = ctx.config.matching
    columns = sorted(settings.source_columns())
    x, c, s = Xref, CanonicalRecord, SourceRecord
    gone = s.deleted_at.is_not(None)
    moved = and_(x.source_hash.is_not(None), x.source_hash != c.source_hash)
    query = (select(c.system, c.record_id, x.hub_id,
                    or_(x.hub_id.is_(None), and_(moved, x.rule != STEWARD_RULE)).label(UNPINNED),
                    or_(x.hub_id.is_(None), x.source_hash.is_(None), moved,
                        func.coalesce(x.source_deleted, False) != gone).label(SEED),
                    *[cast(c.values[name].as_string(), String).label(name) for name in columns])
             .outerjoin(x, and_(x.system == c.system, x.record_id == c.record_id))
             .outerjoin(s, and_(s.system == c.system, s.record_id == c.record_id))
             .order_by(c.system, c.record_id).execution_options(yield_per=_BATCH))
    schema = {"system": pl.String, "record_id": pl.String, HUB: pl.String, UNPINNED: pl.Boolean,
              SEED: pl.Boolean, **{name: pl.String for name in columns}}
    parts = [pl.DataFrame(schema=schema)]
    for rows in session.connection().execute(query).partitions():  # Core rows: no ORM loading per row
        parts.append(pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row"))
    return pl.concat(parts)


def _model(stored: dict[str, Any] | None, monotone: bool = False) -> Model | None:
    """The stored model; ``monotone`` from the rules, which are the ones it was trained under."""
    return None if stored is None else Model(m=stored["m"], u=stored["u"], prior=stored["prior"], monotone=monotone)


def save_state(session: Session, scope: Scope, run_id: str, model: Model | None, held: set[str]) -> None:
    """In the reconcile's own transaction: what the next run is incremental against."""
    state = session.get(ReconcileState, STATE)
    now = utcnow()
    if state is None:
        state = ReconcileState(name=STATE, full_at=now, model=None)
        session.add(state)
    if scope.full:
        state.full_at = now
    if model is not None and scope.full:
        state.model = {"m": model.m, "u": model.u, "prior": model.prior}
    state.run_id, state.rules, state.held = run_id, scope.rules, {"hub_ids": sorted(held)}
    state.decision_id, state.audit_id = scope.decision_id, scope.audit_id


def request_full(session: Session) -> None:
    """The next reconcile is a full one (``custhub run nightly --full``)."""
    state = session.get(ReconcileState, STATE)
    if state is not None:
        state.rules = FULL_ASKED



def keep_discrepancies(session: Session, previous_run: str | None, run_id: str, decided: set[str]) -> int:
    """The previous run's discrepancies of every hub id this run did not decide again, as this
    run's (they are what it would have found); returns how many. One statement in the store,
    against a temporary table of the hub ids decided."""
    if previous_run is None:
        return 0
    with temporary_keys(session, "reconcile_scope_hub", {"hub_id": 32},
                        ({"hub_id": h} for h in sorted(decided))) as scope:
        d = Discrepancy.__table__
        columns = [c.name for c in d.columns if c.name not in ("id", "run_id")]
        kept = (select(literal(run_id, String(64)), *[d.c[c] for c in columns])
                .where(d.c.run_id == previous_run, ~exists().where(scope.c.hub_id == d.c.hub_id)))
        return session.connection().execute(insert(d).from_select(["run_id", *columns], kept)).rowcount or 0
