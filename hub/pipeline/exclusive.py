"""One writer per store: a run works only while it holds the store's lease.

``exclusive(ctx)`` wraps whatever a run does (the whole CLI run, or one Airflow task of it):
it takes the lease (or refuses with one line naming the run that holds it, or waits), closes
the runs a dead process left working as ``abandoned`` after settling what they left in
flight, keeps the lease renewed while the work goes on, and on any exception ends the run
``failed`` with its one-line reason. The lease is released when the run has ended (any
status but running/approved): an Airflow run keeps it between its tasks, so that no other
run writes between its extract and its publish.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from hub.pipeline import lease
from hub.pipeline.context import RunContext
from core.errors import CusthubError
from hub.pipeline.runs import ACTIVE, abandon, fail_run, one_line, rejoin, run_status, working_runs

log = logging.getLogger("custhub.runs")


@contextmanager
def exclusive(ctx: RunContext, *, wait: float | None = None,
              ordinary: tuple[type[BaseException], ...] = (),
              process_bound: bool = False) -> Iterator[lease.Heartbeat]:
    """Hold the lease for ``ctx.run_id`` while the block runs. ``ordinary``: exceptions that
    end a step without failing the run (Airflow's skip). ``process_bound``: this process is the
    whole run, so its lease dies with it (hub.pipeline.lease)."""
    seconds = ctx.config.lease.seconds
    expired = lease.take_waiting(ctx.engine, ctx.run_id, seconds, wait, process_bound=process_bound)
    try:
        _close_abandoned(ctx, expired)
        rejoin(ctx.engine, ctx.run_id)
        with lease.Heartbeat(ctx.engine, ctx.run_id, seconds, process_bound=process_bound) as heartbeat:
            yield heartbeat
    except ordinary:
        raise
    except BaseException as e:  # noqa: BLE001 - recorded and re-raised: no run stays running
        fail_run(ctx.engine, ctx.run_id, e)
        raise
    finally:
        if run_status(ctx.engine, ctx.run_id) not in ACTIVE:
            lease.release(ctx.engine, ctx.run_id)


def _close_abandoned(ctx: RunContext, expired: str | None) -> None:
    """Only the lease holder works: any other working run died without closing itself."""
    dead = working_runs(ctx.engine, besides=ctx.run_id)
    if expired is not None and expired != ctx.run_id and expired not in dead:
        dead.append(expired)  # its process died before its run row was written, or after closing
    for run_id in dead:
        _settle_abandoned(ctx, run_id)
        abandon(ctx.engine, run_id, f"abandoned: its process stopped without closing the run "
                                    f"(its store lease expired or its process is gone); "
                                    f"closed by run {ctx.run_id}")
        log.warning("run %s closed run %s as abandoned", ctx.run_id, run_id)


def _settle_abandoned(ctx: RunContext, run_id: str) -> None:
    """Settle the outbox rows a dead run left in flight (``sending``) by looking at each target,
    before anything is sent again (docs/adr/0004-exactly-once.md). A target that cannot be
    reached now keeps its rows in flight: its own publish settles them first, next time."""
    from hub.pipeline.publish import settle_in_flight

    for system in ctx.config.enabled_systems():
        try:
            settled = settle_in_flight(ctx, system)
        except CusthubError as e:
            log.warning("run %s: %s rows in flight from run %s stay in flight: %s", ctx.run_id,
                        system, run_id, one_line(e))
            continue
        if settled:
            log.info("run %s settled %s rows in flight from run %s: %s", ctx.run_id, system,
                     run_id, settled)
