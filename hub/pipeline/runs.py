"""Start and finish runs. An Airflow run maps to one hub run, so a retried task joins it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Engine, select

from core.errors import CusthubError
from core.clock import utcnow
from hub.store.db import session_scope
from hub.store.models import Run


def start_run(engine: Engine, kind: str, *, external_id: str | None = None,
              interval: tuple[datetime, datetime] | None = None, dry_run: bool = False) -> str:
    with session_scope(engine) as session:
        if external_id:
            found = session.scalar(select(Run).where(Run.external_id == external_id))
            if found is not None:
                found.status = "running"
                return found.id
        run_id = f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        start, end = interval or (None, None)
        session.add(Run(id=run_id, kind=kind, external_id=external_id, status="running",
                        dry_run=dry_run, started_at=utcnow(), interval_start=start,
                        interval_end=end))
        return run_id


AWAITING_APPROVAL = "awaiting_approval"  # a guard stopped the run before publishing


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
        run.status, run.message = AWAITING_APPROVAL, message


def finish_run(engine: Engine, run_id: str, status: str, message: str | None = None) -> None:
    """Record how a run ended. A held run that "succeeds" stays held: approval ends it."""
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        if run.status == AWAITING_APPROVAL and status == "succeeded":
            run.finished_at = utcnow()
            return
        run.status, run.finished_at, run.message = status, utcnow(), message
