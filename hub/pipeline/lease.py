"""The run lease: one writer per store, taken atomically through the store itself.

The lease is one row (``run_lease``, key "store"). A run takes it by inserting that row (the
primary key lets exactly one concurrent insert through, on SQLite and PostgreSQL alike) or,
when the row is its own or has expired, by a conditional UPDATE that names the holder it
replaces: two runs racing for an expired lease cannot both match. The owner is the run id, so
an Airflow run's tasks join their own run's lease from any worker, and any other run is
refused. Times are the hub's UTC clock; hosts sharing a store are expected to keep NTP time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from core.clock import utcnow
from core.errors import CusthubError, Kind
from hub.store.models import Run, RunLease

log = logging.getLogger("custhub.lease")
KEY = "store"
_TABLE = RunLease.__table__


class RunLocked(CusthubError):
    """Another run holds the store's lease: this one refuses (or waits) instead of writing too."""

    kind = Kind.CONFLICT


class LeaseLost(RunLocked):
    """This run's lease expired and another run took it: it must stop writing."""


class RunStopped(CusthubError):
    """Someone asked the run to stop (SIGTERM): it stops at the next step boundary."""

    kind = Kind.TRANSIENT


_stop_requested: list[str] = []  # set from a signal handler: only a flag, no I/O there


def request_stop(reason: str) -> None:
    """Ask the running run to stop at its next step boundary (``Heartbeat.beat``)."""
    _stop_requested.append(reason)


@dataclass(frozen=True)
class Holder:
    run_id: str
    host: str
    pid: int
    heartbeat_at: datetime
    kind: str | None

    def describe(self) -> str:
        return (f"run {self.run_id} ({self.kind or 'a run'} on {self.host}, pid {self.pid}, "
                f"last heartbeat {self.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)")


def take(engine: Engine, run_id: str, seconds: float) -> str | None:
    """Take or renew the lease for ``run_id``; returns the run whose expired lease it took
    over (None if the lease was free or already ours). Raises RunLocked if another run holds it."""
    for _ in range(5):  # the row may come and go between our statements: look again
        now = utcnow()
        mine = {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(),
                "heartbeat_at": now, "expires_at": now + timedelta(seconds=seconds)}
        try:
            with engine.begin() as conn:
                conn.execute(insert(_TABLE).values(name=KEY, acquired_at=now, **mine))
            return None
        except IntegrityError:
            pass  # the row exists: ours to renew, expired to take over, or someone else's
        holder = current(engine)
        if holder is None:
            continue
        if holder.run_id == run_id:
            if _update(engine, mine, _TABLE.c.run_id == run_id):
                return None
            continue
        if _update(engine, {**mine, "acquired_at": now}, _TABLE.c.run_id == holder.run_id,
                   _TABLE.c.expires_at < now):
            log.warning("took over the expired lease of %s", holder.describe())
            return holder.run_id
        raise RunLocked(f"the hub store is in use by {holder.describe()}; this run refuses to "
                        "start (use --wait to wait for it)")
    raise RunLocked("the hub store's lease keeps changing hands; try again")


def _update(engine: Engine, values: dict, *where: object) -> bool:
    with engine.begin() as conn:
        done = conn.execute(update(_TABLE).where(_TABLE.c.name == KEY, *where).values(**values))
        return done.rowcount == 1


def take_waiting(engine: Engine, run_id: str, seconds: float, wait: float | None) -> str | None:
    """``take``; with ``wait`` (seconds), try again until the lease is free or the time is up."""
    deadline = time.monotonic() + (wait or 0)
    while True:
        try:
            return take(engine, run_id, seconds)
        except RunLocked as locked:
            if wait is None or time.monotonic() >= deadline:
                if wait is not None:
                    raise RunLocked(f"{locked} (waited {wait:g} s)") from None
                raise
        time.sleep(min(max(seconds / 3, 0.2), 5, max(deadline - time.monotonic(), 0.05)))


def release(engine: Engine, run_id: str) -> None:
    """Give the lease up; a lease another run has taken since is left alone."""
    with engine.begin() as conn:
        conn.execute(delete(_TABLE).where(_TABLE.c.name == KEY, _TABLE.c.run_id == run_id))


def current(engine: Engine) -> Holder | None:
    with engine.connect() as conn:
        row = conn.execute(select(_TABLE, Run.kind).outerjoin(Run, Run.id == _TABLE.c.run_id)
                           .where(_TABLE.c.name == KEY)).first()
    if row is None:
        return None
    return Holder(row.run_id, row.host, row.pid, row.heartbeat_at, row.kind)


class Heartbeat:
    """Renews the lease while a step works: every third of its duration, from a daemon thread,
    and at each step boundary through ``beat()``, which also stops a run that lost its lease."""

    def __init__(self, engine: Engine, run_id: str, seconds: float) -> None:
        self.engine, self.run_id, self.seconds = engine, run_id, seconds
        self._stop = threading.Event()
        self._lost: str | None = None
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.seconds)

    def beat(self) -> None:
        """Renew now; raises LeaseLost if another run has taken the lease over, RunStopped
        if the run was asked to stop."""
        if _stop_requested:
            raise RunStopped(f"run {self.run_id} {_stop_requested[0]}")
        if self._lost is None:
            self._renew()
        if self._lost is not None:
            raise LeaseLost(self._lost)

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self._renew()
            except SQLAlchemyError as e:  # a busy store: the next beat tries again
                log.warning("lease heartbeat of run %s failed: %s", self.run_id, e)

    def _renew(self) -> None:
        try:
            take(self.engine, self.run_id, self.seconds)
        except RunLocked as e:
            self._lost = f"run {self.run_id} lost the store's lease: {e}"
            self._stop.set()
