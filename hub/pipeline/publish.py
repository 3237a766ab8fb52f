"""Publish: send the outbox's pending corrections through each system's connector."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import Write
from core.clock import utcnow
from hub.pipeline.context import RunContext, build_connector, metrics, set_metric
from hub.pipeline.questions import ask
from hub.pipeline.runs import AWAITING_APPROVAL
from hub.store.db import session_scope
from hub.store.models import Outbox, Run, SourceRecord
from mappings.engine import to_system
from reconciliation.conflicts import refused_questions
from reconciliation.outbox import SKIPPED_DELETED


def publish(ctx: RunContext, system: str) -> dict[str, int]:
    """Write pending corrections; a dry run, or a run a guard holds, leaves them pending and sends nothing."""
    with session_scope(ctx.engine) as session:
        run = session.get(Run, ctx.run_id)
        dry_run, held = run.dry_run, run.status == AWAITING_APPROVAL
        pending = list(session.scalars(select(Outbox).where(
            Outbox.system == system, Outbox.status == "pending").order_by(Outbox.id)))
    counts: Counter[str] = Counter()
    if pending and not dry_run and not held:
        live = _skip_deleted(ctx, system, pending)
        if skipped := len(pending) - len(live):
            counts[SKIPPED_DELETED] = skipped
        if live:
            counts.update(_send(ctx, system, live))
    with session_scope(ctx.engine) as session:
        set_metric(session, ctx.run_id, system, "corrected", counts["sent"])
        set_metric(session, ctx.run_id, system, "refused", counts["refused"])
        set_metric(session, ctx.run_id, system, SKIPPED_DELETED, counts[SKIPPED_DELETED])
        # A dry run's own corrections were rolled back with the rest of its reconcile: count them too.
        would = len(pending) + metrics(session, ctx.run_id).get((system, "would_send"), 0)
        set_metric(session, ctx.run_id, system, "would_correct", would if dry_run else 0)
    return dict(counts)


def _skip_deleted(ctx: RunContext, system: str, pending: list[Outbox]) -> list[Outbox]:
    """The rows still to send; those whose target is deleted at the source are closed as skipped.

    Reconcile makes no correction for a deleted record, but a row made before the deletion
    (its publish failed, or the run waited for approval) may still be pending.
    """
    with session_scope(ctx.engine) as session:
        gone = set(session.scalars(select(SourceRecord.record_id).where(
            SourceRecord.system == system, SourceRecord.deleted_at.is_not(None))))
        for row in pending:
            if row.record_id in gone:
                stored = session.get(Outbox, row.id)
                stored.status, stored.error = SKIPPED_DELETED, f"{system} record deleted at the source"
    return [row for row in pending if row.record_id not in gone]


def _send(ctx: RunContext, system: str, pending: list[Outbox]) -> Counter[str]:
    spec = ctx.config.spec(system)
    # The outbox holds JSON ("150000.50"): to_system reads each value back to its canonical
    # type and spells it as the system's spec says ("150000,50" for the ERP), once, here.
    writes = [Write(idempotency_key=o.idempotency_key, record_id=o.record_id,
                    values=to_system(spec, o.values), expected_version=o.expected_version)
              for o in pending]
    # The batch id is the run's: a retried task rewrites the same batch instead of adding one.
    result = build_connector(ctx.config, system).write(writes, batch_id=f"{ctx.run_id}-{system}")
    refused = {r.idempotency_key: r for r in result.refused}
    applied = set(result.applied)
    counts: Counter[str] = Counter()
    with session_scope(ctx.engine) as session:
        for row in pending:
            row = session.get(Outbox, row.id)
            row.attempts += 1
            if row.idempotency_key in refused:
                row.status, row.error = "refused", refused[row.idempotency_key].reason
                counts["refused"] += 1
                _ask_steward(session, row, ctx.run_id)
            elif row.idempotency_key in applied:
                row.status, row.sent_at = "sent", utcnow()
                counts["sent"] += 1
    return counts


def _ask_steward(session: Session, row: Outbox, run_id: str) -> None:
    """A write the target refused (it changed since we read it) is a conflict, one item per field."""
    ask(session, refused_questions(row.idempotency_key, row.hub_id, row.system, row.record_id, row.values,
                                   row.error), run_id)
