"""How long each step of a run took, kept with the run's other figures.

``with timed(ctx, "extract", "crm"): ...`` records the step's milliseconds as the run metric
(system, "extract_ms") and logs them, so an operator sees step durations next to the counts
and the bench reads the same figures the product keeps. A step that raises records nothing:
its run ends failed or isolates the system, and a partial duration would mislead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hub.pipeline.context import RunContext, set_metric
from hub.store.db import session_scope

log = logging.getLogger("custhub.timings")

HUB = "hub"  # the system name of a step that works for the whole run (registries, reconcile)
# Told (step, system) as each step starts: the CLI's progress display on a terminal. Nothing
# watches in an Airflow task, whose log has the step's INFO line below instead.
StepWatcher = Callable[[str, str], None]
_watchers: list[StepWatcher] = []
# Told (done, total) as the current step advances: records read, mapped, checked or sent so
# far; total None where the step cannot know it ahead (an export's size before it is read).
StepCounter = Callable[[int, int | None], None]
_counters: list[StepCounter] = []


@contextmanager
def watching(watcher: StepWatcher, counter: StepCounter | None = None) -> Iterator[None]:
    _watchers.append(watcher)
    if counter is not None:
        _counters.append(counter)
    try:
        yield
    finally:
        _watchers.remove(watcher)
        if counter is not None:
            _counters.remove(counter)


def advanced(done: int, total: int | None = None) -> None:
    """The current step has handled ``done`` of ``total`` items (a no-op unless watched)."""
    for counter in _counters:
        counter(done, total)


def metric_name(step: str) -> str:
    return f"{step}_ms"


@contextmanager
def timed(ctx: RunContext, step: str, system: str = HUB) -> Iterator[None]:
    for watcher in _watchers:
        watcher(step, system)
    started = time.perf_counter()
    yield
    ms = round((time.perf_counter() - started) * 1000)
    with session_scope(ctx.engine) as session:
        set_metric(session, ctx.run_id, system, metric_name(step), ms)
    log.info("%s %s: %.3f s", step, system, ms / 1000,
             extra={"step": step, "system": system, "ms": ms})
