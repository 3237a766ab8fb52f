"""Start and finish runs. An Airflow run maps to one hub run, so a retried task joins it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Engine, select

from hub.pipeline.context import utcnow
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


def finish_run(engine: Engine, run_id: str, status: str, message: str | None = None) -> None:
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        run.status, run.finished_at, run.message = status, utcnow(), message
