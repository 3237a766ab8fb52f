"""Start and finish runs. An Airflow run maps to one hub run, so a retried task joins it.

A run is ``running`` (or ``approved``, while an approved run publishes) only while it holds the
store's lease (hub.pipeline.exclusive); every way it ends leaves another status: succeeded,
failed (with its one-line reason), awaiting_approval, or abandoned (its process died and the
next run closed it).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.errors import CusthubError
from core.clock import utcnow
from hub.store.db import session_scope
from hub.store.models import Run, RunMetric

AWAITING_APPROVAL = "awaiting_approval"  # a guard stopped the run before publishing
APPROVED = "approved"
ABANDONED = "abandoned"
ACTIVE = ("running", APPROVED)  # statuses of a run that works now, so holds the lease
SKIPPED = "skipped"  # a system's run metric: it was left out of this run (hub.pipeline.isolation)


def new_run_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def start_run(engine: Engine, kind: str, *, external_id: str | None = None,
              interval: tuple[datetime, datetime] | None = None, dry_run: bool = False,
              run_id: str | None = None) -> str:
    with session_scope(engine) as session:
        if external_id:
            found = session.scalar(select(Run).where(Run.external_id == external_id))
            if found is not None:
                found.status = "running"
                return found.id
        run_id = run_id or new_run_id()
        start, end = interval or (None, None)
        session.add(Run(id=run_id, kind=kind, external_id=external_id, status="running",
                        dry_run=dry_run, started_at=utcnow(), interval_start=start,
                        interval_end=end))
        return run_id


def external_run(engine: Engine, external_id: str) -> str | None:
    with session_scope(engine) as session:
        return session.scalar(select(Run.id).where(Run.external_id == external_id))


def run_status(engine: Engine, run_id: str) -> str | None:
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        return run.status if run is not None else None


def require_status(engine: Engine, run_id: str, status: str) -> None:
    found = run_status(engine, run_id)
    if found != status:
        raise CusthubError(f"run {run_id} is {found or 'unknown'}, not {status}")


def hold_run(engine: Engine, run_id: str, message: str) -> None:
    """A guard stopped the run: it publishes nothing until approved."""
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        run.status, run.message = AWAITING_APPROVAL, _with_notes(session, run, message)


def finish_run(engine: Engine, run_id: str, status: str, message: str | None = None) -> None:
    """Record how a run ended. A held run that "succeeds" stays held: approval ends it."""
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        if run.status == AWAITING_APPROVAL and status == "succeeded":
            run.finished_at = utcnow()
            return
        run.status, run.finished_at = status, utcnow()
        run.message = _with_notes(session, run, message)


def fail_run(engine: Engine, run_id: str, error: BaseException) -> None:
    """Any exception ends a working run ``failed`` with its one-line reason; a run already
    closed (held, succeeded) keeps its status."""
    if run_status(engine, run_id) in ACTIVE:
        finish_run(engine, run_id, "failed", one_line(error))


def one_line(error: BaseException) -> str:
    if isinstance(error, CusthubError):
        return error.one_line()
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def rejoin(engine: Engine, run_id: str) -> None:
    """A task retried after its run failed (or was abandoned) carries the run on."""
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        if run is not None and run.status in ("failed", ABANDONED):
            run.status, run.finished_at = "running", None


def working_runs(engine: Engine, *, besides: str) -> list[str]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Run.id).where(Run.status.in_(ACTIVE), Run.id != besides)))


def abandon(engine: Engine, run_id: str, why: str) -> None:
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        if run is not None and run.status in ACTIVE:
            run.status, run.finished_at, run.message = ABANDONED, utcnow(), why


def add_note(engine: Engine, run_id: str, note: str) -> None:
    """A line the run's message keeps however it ends (a system left out of the run)."""
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        if note not in (run.message or ""):
            run.message = f"{run.message}; {note}" if run.message else note


def _with_notes(session: Session, run: Run, message: str | None) -> str | None:
    """The new message, after the notes of the systems this run skipped (kept in the message)."""
    skipped = session.scalar(select(RunMetric.system).where(
        RunMetric.run_id == run.id, RunMetric.metric == SKIPPED).limit(1))
    if skipped is None or not run.message:
        return message
    notes = "; ".join(p for p in run.message.split("; ") if " skipped: " in p)
    return "; ".join(p for p in (message, notes) if p) or None
