"""The hub side of one nightly bench size, in a fresh process.

    python -m bench._nightly_worker REPORT_DIR

It runs exactly what ``custhub run nightly`` runs (hub.pipeline.nightly.run_nightly with the
repo's config/hub.yaml; the store from CUSTHUB_STORE_URL, the estate's connections from
AIRFLOW_CONN_* as Airflow would give them), once per ``run LABEL`` line on stdin, and answers
each with one JSON line: the run's wall clock, each step's milliseconds as the run recorded
them (hub.pipeline.timings) with the wall-clock interval it took and this process's CPU
seconds in it, the rows behind each step from the run's own metrics, and this process's peak RSS.

BENCH_NIGHTLY_PROFILE=DIR profiles the steps named in BENCH_NIGHTLY_PROFILE_STEPS (default
``report,publish``) with cProfile and writes ``DIR/<run label>-<step>-<system>.prof`` (the
profiled steps' seconds then include cProfile's own cost).
"""

from __future__ import annotations

import cProfile
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from hub.config import HubConfig, load_config
from hub.pipeline.context import metrics, open_store
from hub.pipeline.nightly import run_nightly
from hub.pipeline.timings import log as timings_log
from hub.pipeline.timings import watching
from hub.store.db import session_scope

# The steady run's figures that say what it found changed, per system.
CHANGE_METRICS = ("extracted", "new", "changed", "deleted_at_source")


class StepClock(logging.Handler):
    """Each step's end (its log record's time), milliseconds and CPU seconds, as
    hub.pipeline.timings logs and tells its watchers; profiles the steps asked for."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: list[dict[str, Any]] = []
        self.label = ""
        self._cpu_at_start = 0.0
        self._profile_dir = os.environ.get("BENCH_NIGHTLY_PROFILE")
        self._profiled = set(os.environ.get("BENCH_NIGHTLY_PROFILE_STEPS", "report,publish").split(","))
        self._profile: cProfile.Profile | None = None

    def started(self, step: str, system: str) -> None:
        if self._profile_dir and step in self._profiled:
            self._profile = cProfile.Profile(time.process_time)  # CPU: the machine is shared
            self._profile.enable()
        self._cpu_at_start = time.process_time()

    def emit(self, record: logging.LogRecord) -> None:
        ms = getattr(record, "ms", None)
        if ms is None:
            return
        cpu = time.process_time() - self._cpu_at_start
        if self._profile is not None:
            self._profile.disable()
            self._profile.dump_stats(Path(self._profile_dir or ".")
                                     / f"{self.label}-{record.step}-{record.system}.prof")
            self._profile = None
        self.steps.append({"step": record.step, "system": record.system, "ms": ms, "cpu_s": cpu,
                           "started_at": record.created - ms / 1000, "ended_at": record.created})


def rows(step: str, system: str, figures: dict[tuple[str, str], int]) -> int:
    """The rows a step worked on, from the run's own metrics."""
    if step == "extract":
        return figures.get((system, "extracted"), 0)
    if step == "map":
        return figures.get((system, "mapped"), 0) + figures.get((system, "quarantined"), 0)
    if step == "publish":
        return figures.get((system, "corrected"), 0) + figures.get((system, "refused"), 0)
    if step == "registries":
        return sum(v for (s, m), v in figures.items()
                   if s == "registries" and not m.endswith("_ms"))
    if step == "reconcile":
        return sum(v for (s, m), v in figures.items() if m == "records")
    return figures.get(("hub", "discrepancies"), 0)  # report: the differences it lists


def bench_config(report_dir: Path) -> HubConfig:
    """hub.yaml as shipped, reports under ``report_dir``; BENCH_NIGHTLY_REGISTRIES=off leaves
    the registries step out (bench.nightly's docstring)."""
    config = load_config().model_copy(update={"report_dir": str(report_dir)})
    if os.environ.get("BENCH_NIGHTLY_REGISTRIES", "on") == "off":
        off = {name: block.model_copy(update={"enabled": False})
               for name, block in config.registries.items()}
        config = config.model_copy(update={"registries": off})
    return config


def run_once(report_dir: Path, clock: StepClock) -> dict[str, Any]:
    config = bench_config(report_dir)
    clock.steps.clear()
    started_at, started, cpu = time.time(), time.perf_counter(), time.process_time()
    with watching(clock.started):
        result = run_nightly(config)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    with session_scope(open_store(config)) as session:
        figures = metrics(session, result.run_id)
    steps = [step | {"rows": rows(step["step"], step["system"], figures),
                     "recorded_ms": figures.get((step["system"], f"{step['step']}_ms"))}
             for step in clock.steps]
    changes = {s: {m: figures.get((s, m), 0) for m in CHANGE_METRICS} for s in config.systems}
    return {"run_id": result.run_id, "status": result.status, "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "started_at": started_at, "ended_at": time.time(), "steps": steps, "found": changes,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(report_dir: Path) -> None:
    if "CUSTHUB_STORE_URL" not in os.environ:
        raise SystemExit("CUSTHUB_STORE_URL must name the bench's store")
    clock = StepClock()
    timings_log.addHandler(clock)
    timings_log.setLevel(logging.INFO)
    for line in sys.stdin:
        command, *args = line.split()
        if command != "run":
            break
        clock.label = args[0]
        answer = run_once(report_dir / args[0], clock) | {"label": args[0]}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
