"""The product's nightly path at 10k, 100k and 1M companies, on the SQLite and PostgreSQL stores.

    make bench BENCH_ARGS=nightly                      # 10k, 100k, 1M
    make bench BENCH_ARGS="nightly --scale 0.01"       # 100, 1k, 10k
    BENCH_NIGHTLY_MAX_SIZE=10000 make bench BENCH_ARGS="nightly --scale 0.1"   # 1k and 10k only

Per size and store, two fresh processes: the sandbox estate (``python -m sandbox.serve
--commands``, generated and seeded at that size) and the hub worker (bench._nightly_worker),
which gets the estate's Airflow connections as AIRFLOW_CONN_* and runs exactly what ``custhub
run nightly`` runs. The sequence: the first load; the systems' own import jobs; a settling
night, which reads back what the first load wrote (about half the estate), and the import jobs
again; 1 % of each system changed (sandbox.changes); the steady-state run, which must find
exactly those changes. Per step: the seconds the run recorded (hub.pipeline.timings), the rows
from the run's metrics, each process's peak RSS during the step (sampled from /proc), and the
ratio to the previous size (10x the companies should cost at most 13x); per run its wall clock,
its hub CPU seconds and its total without the registries.

Before the hub runs, the sandbox is measured on its own: generation, seeding per system, the
ERP export, and a full CRM page scan with a plain HTTP client (bench._nightly_crm_scan).

Options (environment): BENCH_NIGHTLY_SIZES (comma list, companies, overrides the sizes),
BENCH_NIGHTLY_MAX_SIZE (larger sizes are not run), BENCH_NIGHTLY_MAX_MINUTES (no size starts
once spent), BENCH_NIGHTLY_STORES (sqlite,postgresql), CUSTHUB_BENCH_PG_ADMIN_URL,
BENCH_NIGHTLY_REGISTRIES=off (the registries step left out: the targets exclude registry calls,
and at hub.yaml's rates a large first load spends its registry budget and deadline, not CPU).
A size or store not run is printed as such; nothing is estimated.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench._nightly_crm_scan import scan
from bench._nightly_procs import CommandProcess, RssSampler
from bench._nightly_table import print_result

SIZES = (10_000, 100_000, 1_000_000)
STORES = ("sqlite", "postgresql")
CHANGE_SHARE, CHANGE_SEED, ESTATE_SEED = 0.01, 1, 7
PG_ADMIN_URL = os.environ.get("CUSTHUB_BENCH_PG_ADMIN_URL",
                              "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def sizes(scale: float) -> list[int]:
    listed = os.environ.get("BENCH_NIGHTLY_SIZES")
    if listed:
        return sorted({int(n) for n in listed.split(",")})
    return sorted({max(50, int(n * scale)) for n in SIZES})


def run(scale: float = 1.0) -> dict[str, float]:
    stores = os.environ.get("BENCH_NIGHTLY_STORES", ",".join(STORES)).split(",")
    max_size = int(os.environ.get("BENCH_NIGHTLY_MAX_SIZE", "0")) or None
    budget = float(os.environ.get("BENCH_NIGHTLY_MAX_MINUTES", "0")) * 60 or None
    started, results, figures = time.perf_counter(), {}, {}
    for size in sizes(scale):
        for store in stores:
            what = f"\nnightly {size:,} companies, {store}"
            if max_size and size > max_size:
                print(f"{what}: NOT RUN (BENCH_NIGHTLY_MAX_SIZE={max_size})")
                continue
            if budget and time.perf_counter() - started > budget:
                print(f"{what}: NOT RUN (BENCH_NIGHTLY_MAX_MINUTES spent)")
                continue
            try:
                result = measure(size, store, crm_scan=store == stores[0])
            except RuntimeError as failed:  # a process died: say so, and go on with the next
                print(f"{what}: FAILED, no figures\n{failed}")
                continue
            results[(size, store)] = result
            print_result(result, previous(results, size, store))
            figures.update(summary(result))
    return figures


def previous(results: dict[tuple[int, str], dict[str, Any]], size: int,
             store: str) -> dict[str, Any] | None:
    smaller = [s for s, st in results if st == store and s < size]
    return results[(max(smaller), store)] if smaller else None


# -- one size on one store ------------------------------------------------------------------

def measure(size: int, store: str, crm_scan: bool = True) -> dict[str, Any]:
    """The whole sequence at ``size`` companies on ``store``, in fresh processes."""
    with tempfile.TemporaryDirectory(prefix=f"custhub-nightly-{size}-") as scratch, \
            _store_url(store, size, Path(scratch)) as url:
        return _sequence(size, store, url, Path(scratch), crm_scan)


@contextmanager
def _store_url(store: str, size: int, scratch: Path) -> Iterator[str]:
    if store == "sqlite":
        yield f"sqlite:///{scratch / 'hub.db'}"
        return
    if store != "postgresql":
        raise SystemExit(f"unknown store {store!r}; known: {STORES}")
    name = f"custhub_bench_{int(size)}"  # digits only: a safe identifier
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _sequence(size: int, store: str, url: str, scratch: Path, crm_scan: bool) -> dict[str, Any]:
    connections = scratch / "connections.json"
    estate = CommandProcess("estate", [
        sys.executable, "-m", "sandbox.serve", "--commands", "--root", str(scratch / "estate"),
        "--connections", str(connections), "--companies", str(size), "--seed", str(ESTATE_SEED)],
        scratch / "estate.log")
    try:
        ready = estate.read()
        conns = json.loads(connections.read_text(encoding="utf-8"))
        scanned = scan(conns["custhub_crm"]) if crm_scan else None
        env = os.environ | {"CUSTHUB_STORE_URL": url} | {
            f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in conns.items()}
        hub = CommandProcess("hub worker", [sys.executable, "-m", "bench._nightly_worker",
                                            str(scratch / "reports")], scratch / "hub.log", env)
        try:
            with RssSampler({"hub": hub.pid, "estate": estate.pid}) as rss:
                answers = _steps(hub, estate)
            answers["estate_end"] = estate.ask("status")
        finally:
            hub.stop()
    finally:
        estate.stop()
    return {"size": size, "store": store, "estate": ready, "crm_scan": scanned,
            "answers": answers, "rows": _rows(answers, rss),
            "hub_peak_mb": answers["steady"]["peak_rss_mb"],
            "estate_peak_mb": answers["estate_end"]["peak_rss_mb"]}


# (phase, process, command): the first load writes back a large share of the estate (the
# generator's drift), which the next night reads back; only after that night does a run see
# just a day's changes, so the steady state is measured on the night after that.
SEQUENCE = (("first", "hub", "run first"), ("inbound", "estate", "inbound"),
            ("settle", "hub", "run settle"), ("inbound_settled", "estate", "inbound"),
            ("change", "estate", f"change {CHANGE_SHARE} {CHANGE_SEED}"),
            ("steady", "hub", "run steady"))
RUNS = ("first", "settle", "steady")
ESTATE_JOBS = {"inbound": "import jobs", "inbound_settled": "import jobs, after settle",
               "change": f"change {CHANGE_SHARE:.0%}"}


def _steps(hub: CommandProcess, estate: CommandProcess) -> dict[str, dict[str, Any]]:
    answers: dict[str, dict[str, Any]] = {}
    for phase, process, command in SEQUENCE:
        started_at = time.time()
        answers[phase] = (hub if process == "hub" else estate).ask(command)
        answers[phase].setdefault("started_at", started_at)
        answers[phase].setdefault("ended_at", time.time())
    return answers


def _rows(answers: dict[str, dict[str, Any]], rss: RssSampler) -> list[dict[str, Any]]:
    """The printed lines: phase, step, seconds, rows, and each process's peak RSS in the step."""
    def line(phase: str, step: str, seconds: float, rows: int | None,
             span: dict[str, Any]) -> dict[str, Any]:
        start, end = span["started_at"], span["ended_at"]
        return {"key": f"{phase} {step}", "phase": phase, "step": step, "seconds": seconds,
                "rows": rows, "hub_mb": rss.peak("hub", start, end),
                "estate_mb": rss.peak("estate", start, end), "cpu_s": span.get("cpu_s")}

    out = []
    for phase, _, _ in SEQUENCE:
        run = answers[phase]
        if phase in ESTATE_JOBS:
            out.append(line("estate", ESTATE_JOBS[phase], run["seconds"], _estate_rows(run), run))
            continue
        for s in run["steps"]:  # seconds as the run recorded them (hub.pipeline.timings)
            name = s["step"] if s["system"] == "hub" else f"{s['step']}:{s['system']}"
            out.append(line(phase, name, s["recorded_ms"] / 1000, s["rows"], s))
        registries = sum(s["recorded_ms"] for s in run["steps"] if s["step"] == "registries") / 1000
        out.append(line(phase, "run, wall clock", run["seconds"], None, run))
        # On a shared machine the wall clock includes waiting for a core; this is the work.
        out.append(line(phase, "run, CPU of the hub worker", run["cpu_seconds"], None, run))
        out.append(line(phase, "run, without registries", run["seconds"] - registries, None, run))
    return out


def _estate_rows(answer: dict[str, Any]) -> int:
    if "applied" in answer:
        return sum(answer["applied"].values())
    return sum(len(ids) for kinds in answer["changes"].values() for ids in kinds.values())


def summary(result: dict[str, Any]) -> dict[str, float]:
    """The figures ``python -m bench`` prints last: one line per phase total and peak."""
    tag = f"{result['size']:>9,} {result['store']:<10}"
    picked = {r["key"]: r["seconds"] for r in result["rows"] if r["step"].startswith("run")}
    figures = {f"{tag} {key} s": value for key, value in picked.items()}
    figures[f"{tag} hub worker peak RSS MB"] = result["hub_peak_mb"]
    figures[f"{tag} estate process peak RSS MB"] = result["estate_peak_mb"]
    return figures
