"""Publish: send the outbox's pending corrections through each system's connector, once in effect.

A row leaves in three steps, each its own transaction (docs/adr/0004-exactly-once.md):

1. claim: ``pending`` -> ``sending`` with a fresh attempt id and the time; only rows still
   pending are taken, so two publishers never claim the same row;
2. send: the connector writes the claimed rows as one batch;
3. mark: ``sent`` or ``refused`` as the connector answered; a row it said nothing of goes
   back to ``pending``.

A crash between 1 and 3 leaves rows ``sending``: maybe received, maybe not. Before anything
else of that system is sent, ``settle_in_flight`` asks the target (the connector's ``settle``,
``connectors.base.Settleable``) which of them it already holds: those are marked ``sent``,
those it refused ``refused``; the rest never arrived and go back to ``pending``, to leave
with the next batch. The import file's name follows the rows it carries
(``connectors.sftp.imports``), so even a row re-sent after a crash replaces its file.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from connectors.base import Settleable, Write, WriteResult
from core.clock import utcnow
from core.faults import fault_point
from hub.pipeline.context import RunContext, build_connector, metrics, set_metric
from hub.pipeline.questions import ask
from hub.pipeline.runs import AWAITING_APPROVAL
from hub.pipeline.timings import advanced
from hub.store.db import in_chunks, session_scope
from hub.store.models import Outbox, Run, SourceRecord
from mappings.writeback import system_writer
from reconciliation.conflicts import refused_questions
from reconciliation.outbox import SKIPPED_DELETED

log = logging.getLogger(__name__)
PENDING, SENDING, SENT, REFUSED = "pending", "sending", "sent", "refused"


def publish(ctx: RunContext, system: str) -> dict[str, int]:
    """Settle what a crashed publish left in flight, then write the pending corrections; a dry
    run, or a run a guard holds, leaves them pending and sends nothing."""
    with session_scope(ctx.engine) as session:
        run = session.get(Run, ctx.run_id)
        dry_run, held = run.dry_run, run.status == AWAITING_APPROVAL
    counts: Counter[str] = Counter()
    if not dry_run and not held:
        # the rows the target already holds were sent, by the run that died: counted here, once
        settled = settle_in_flight(ctx, system)
        counts.update({k: v for k, v in settled.items() if k in (SENT, REFUSED)})
    pending = _pending(ctx, system)
    if pending and not dry_run and not held:
        live = _skip_deleted(ctx, system, pending)
        if skipped := len(pending) - len(live):
            counts[SKIPPED_DELETED] = skipped
        if live:
            counts.update(_send(ctx, system, live))
    with session_scope(ctx.engine) as session:
        set_metric(session, ctx.run_id, system, "corrected", counts[SENT])
        set_metric(session, ctx.run_id, system, "refused", counts[REFUSED])
        set_metric(session, ctx.run_id, system, SKIPPED_DELETED, counts[SKIPPED_DELETED])
        # A dry run's own corrections were rolled back with the rest of its reconcile: count them too.
        would = len(pending) + metrics(session, ctx.run_id).get((system, "would_send"), 0)
        set_metric(session, ctx.run_id, system, "would_correct", would if dry_run else 0)
    return {k: counts[k] for k in (SENT, REFUSED, SKIPPED_DELETED) if counts[k]}


def settle_in_flight(ctx: RunContext, system: str) -> dict[str, int]:
    """Settle ``system``'s rows left ``sending`` by any run: ask the target, attempt by attempt
    (one attempt was one batch), which it holds. Returns how many became sent, refused and
    pending again ("released"). Also called when an abandoned run is closed."""
    with session_scope(ctx.engine) as session:
        rows = list(session.scalars(select(Outbox).where(
            Outbox.system == system, Outbox.status == SENDING)
            .order_by(Outbox.attempt_id, Outbox.id)))
    if not rows:
        return {}
    connector = build_connector(ctx.config, system)
    counts: Counter[str] = Counter()
    for attempt, group in groupby(rows, key=lambda row: row.attempt_id):
        batch = list(group)
        if isinstance(connector, Settleable):
            since = min(_aware(row.claimed_at) for row in batch)
            result = connector.settle(_writes(ctx, system, batch), since)
        else:  # nothing to look at: send again, the write contract absorbs a repeat
            log.warning("%s: cannot settle %d row(s) in flight; sending them again", system,
                        len(batch))
            result = WriteResult()
        counts.update(_mark(ctx, attempt, result))
    log.info("%s: settled rows in flight: %s", system, dict(counts))
    return dict(counts)


# What sending a row needs, read as plain rows: ORM objects cost more than the send itself.
_SENT_COLUMNS = (Outbox.id, Outbox.idempotency_key, Outbox.record_id, Outbox.values,
                 Outbox.expected_version)


def _pending(ctx: RunContext, system: str) -> list[Row]:
    with session_scope(ctx.engine) as session:
        return list(session.execute(select(*_SENT_COLUMNS).where(
            Outbox.system == system, Outbox.status == PENDING).order_by(Outbox.id)))


def _skip_deleted(ctx: RunContext, system: str, pending: list[Row]) -> list[Row]:
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


def _send(ctx: RunContext, system: str, pending: list[Row]) -> Counter[str]:
    attempt, claimed = _claim(ctx, pending)
    if not claimed:  # another publisher took them first
        return Counter()
    _fault("publish.after_claim", system)
    # The batch id is the run's: the import table and the file name say which run sent them.
    result = build_connector(ctx.config, system).write(
        _writes(ctx, system, claimed), batch_id=f"{ctx.run_id}-{system}",
        progress=lambda done: advanced(done, len(claimed)))
    _fault("publish.after_send", system)
    return _mark(ctx, attempt, result)


def _claim(ctx: RunContext, rows: Sequence[Row]) -> tuple[str, list[Row]]:
    """Mark the rows still pending as ``sending`` under a new attempt id; returns those."""
    attempt, now = uuid.uuid4().hex, utcnow()
    with session_scope(ctx.engine) as session:
        for chunk in in_chunks([row.id for row in rows]):
            session.execute(update(Outbox).where(Outbox.id.in_(chunk), Outbox.status == PENDING)
                            .values(status=SENDING, attempt_id=attempt, claimed_at=now,
                                    attempts=Outbox.attempts + 1))
        claimed = list(session.execute(select(*_SENT_COLUMNS).where(
            Outbox.attempt_id == attempt, Outbox.status == SENDING).order_by(Outbox.id)))
    return attempt, claimed


def _mark(ctx: RunContext, attempt: str | None, result: WriteResult) -> Counter[str]:
    """The attempt's rows as the target answered: sent, refused (a steward question), or,
    of a row it did not name, pending again. Sent and released rows are set by UPDATE a
    chunk of keys at a time; only the refused ones (few) are loaded, for their questions."""
    refused = {r.idempotency_key: r.reason for r in result.refused}
    applied = [key for key in dict.fromkeys(result.applied) if key not in refused]
    counts: Counter[str] = Counter()
    claimed = (Outbox.attempt_id == attempt, Outbox.status == SENDING)
    with session_scope(ctx.engine) as session:
        for chunk in in_chunks(sorted(refused)):
            for row in session.scalars(select(Outbox).where(Outbox.idempotency_key.in_(chunk), *claimed)):
                row.status, row.error = REFUSED, refused[row.idempotency_key]
                _ask_steward(session, row, ctx.run_id)
                counts[REFUSED] += 1
        session.flush()
        # By primary key: given the status too, SQLite would search the status index (every
        # row in flight) once per chunk of keys.
        ids = dict(session.execute(select(Outbox.idempotency_key, Outbox.id).where(*claimed)).tuples().all())
        now = utcnow()
        for chunk in in_chunks(sorted(ids[key] for key in applied if key in ids)):
            counts[SENT] += _update(session, (Outbox.id.in_(chunk), *claimed), status=SENT, sent_at=now)
        counts["released"] += _update(session, claimed, status=PENDING)
    return +counts


def _update(session: Session, where: Sequence[Any], **values: Any) -> int:
    """UPDATE outbox rows; returns how many matched (the session's objects are not synced:
    the rows it loaded were flushed first and are not matched again)."""
    statement = update(Outbox).where(*where).values(**values)
    return session.execute(statement, execution_options={"synchronize_session": False}).rowcount


def _writes(ctx: RunContext, system: str, rows: Sequence[Row | Outbox]) -> list[Write]:
    """The rows as the connector takes them; the same rows give the same writes, which is what
    lets ``settle`` recognise a batch sent before a crash."""
    # The outbox holds JSON ("150000.50"): to_system reads each value back to its canonical
    # type and spells it as the system's spec says ("150000,50" for the ERP), once, here.
    if not rows:
        return []
    to_system = system_writer(ctx.config.spec(system))
    return [Write(idempotency_key=o.idempotency_key, record_id=o.record_id,
                  values=to_system(o.values), expected_version=o.expected_version)
            for o in rows]


def _fault(point: str, system: str) -> None:
    """A fault point for every system ("publish.after_send") and for one ("…:erp")."""
    fault_point(point)
    fault_point(f"{point}:{system}")


def _aware(when: datetime) -> datetime:
    """Stored instants are UTC; SQLite gives them back without a zone."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _ask_steward(session: Session, row: Outbox, run_id: str) -> None:
    """A write the target refused (it changed since we read it) is a conflict, one item per field."""
    ask(session, refused_questions(row.idempotency_key, row.hub_id, row.system, row.record_id, row.values,
                                   row.error), run_id)
