"""The run lease: one writer per store, taken atomically through the store itself.

The lease is one row (``run_lease``, key "store"). A run takes it by inserting that row (the
primary key lets exactly one concurrent insert through, on SQLite and PostgreSQL alike) or,
when the row is its own or has expired, by a conditional UPDATE that names the holder it
replaces: two runs racing for an expired lease cannot both match. The owner is the run id, so
an Airflow run's tasks join their own run's lease from any worker, and any other run is
refused. Times are the hub's UTC clock; hosts sharing a store are expected to keep NTP time.

A run whose process is the whole run (the CLI) marks its lease ``process_bound``: when that
process is gone from the host that took the lease, the lease is dead at once, so the run after
a crash or an OOM kill goes ahead instead of waiting out ``lease.seconds``. Another host cannot
see the process, and an Airflow run's lease outlives each task process: those wait for expiry.
Hosts are told apart by their hostname: machines or containers sharing a store must not share one.
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
    process_bound: bool = False

    def process_gone(self) -> bool:
        """The run's one process is known to have ended: same host, no such pid."""
        return self.process_bound and self.host == socket.gethostname() and not _alive(self.pid)

    def describe(self) -> str:
        return (f"run {self.run_id} ({self.kind or 'a run'} on {self.host}, pid {self.pid}, "
                f"last heartbeat {self.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


def take(engine: Engine, run_id: str, seconds: float, *, process_bound: bool = False) -> str | None:
    """Take or renew the lease for ``run_id``; returns the run whose expired (or dead) lease it
    took over (None if the lease was free or already ours). Raises RunLocked if another run
    holds it. ``process_bound``: this process is the whole run (see the module's docstring)."""
    for _ in range(5):  # the row may come and go between our statements: look again
        now = utcnow()
        mine = {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(),
                "heartbeat_at": now, "expires_at": now + timedelta(seconds=seconds),
                "process_bound": process_bound}
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
        gone = holder.process_gone()
        if _update(engine, {**mine, "acquired_at": now}, _TABLE.c.run_id == holder.run_id,
                   _TABLE.c.heartbeat_at == holder.heartbeat_at if gone else _TABLE.c.expires_at < now):
            log.warning("took over the %s lease of %s", "dead" if gone else "expired", holder.describe())
            return holder.run_id
        raise RunLocked(f"the hub store is in use by {holder.describe()}; this run refuses to "
                        "start (use --wait to wait for it)")
    raise RunLocked("the hub store's lease keeps changing hands; try again")


def _update(engine: Engine, values: dict, *where: object) -> bool:
    with engine.begin() as conn:
        done = conn.execute(update(_TABLE).where(_TABLE.c.name == KEY, *where).values(**values))
        return done.rowcount == 1


def take_waiting(engine: Engine, run_id: str, seconds: float, wait: float | None, *,
                 process_bound: bool = False) -> str | None:
    """``take``; with ``wait`` (seconds), try again until the lease is free or the time is up."""
    deadline = time.monotonic() + (wait or 0)
    while True:
        try:
            return take(engine, run_id, seconds, process_bound=process_bound)
        except RunLocked as locked:
            if wait is None or time.monotonic() >= deadline:
                if wait is not None:
                    raise RunLocked(f"{locked} (waited {wait:g} s)") from None
                raise
        # a second at most between looks: a freed lease is taken while the waiter still waits
        time.sleep(min(max(seconds / 3, 0.2), 1, max(deadline - time.monotonic(), 0.05)))


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
    return Holder(row.run_id, row.host, row.pid, row.heartbeat_at, row.kind, row.process_bound)


class Heartbeat:
    """Renews the lease while a step works: every third of its duration, from a daemon thread,
    and at each step boundary through ``beat()``, which also stops a run that lost its lease."""

    def __init__(self, engine: Engine, run_id: str, seconds: float, *,
                 process_bound: bool = False) -> None:
        self.engine, self.run_id, self.seconds = engine, run_id, seconds
        self.process_bound = process_bound
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
            take(self.engine, self.run_id, self.seconds, process_bound=self.process_bound)
        except RunLocked as e:
            self._lost = f"run {self.run_id} lost the store's lease: {e}"
            self._stop.set()
