"""Run the sandbox estate as a long-lived process on fixed loopback ports (for `make airflow`).

    python -m sandbox.serve [--root .airflow/sandbox] [--connections FILE]

Starts every simulated system, writes their Airflow connections (the JSON that `airflow
connections import` reads) to FILE once they listen, and blocks until SIGTERM or Ctrl-C. The
ports are fixed (below, or CUSTHUB_SANDBOX_<SERVICE>_PORT) so that the connections stored in
Airflow's database stay right across restarts; passwords persist in the estate's root.

With ``--commands`` (the nightly bench) the ports are the OS's choice and the process takes
commands on stdin, one a line, and answers each with one JSON line on stdout: ``status`` answers
the figures alone, ``inbound``
runs the systems' own import jobs, ``change SHARE SEED`` changes that share of each system
(sandbox.changes), ``stop`` (or the end of stdin) stops it. Every answer carries the
command's seconds and the process's peak RSS, so the estate is measured apart from the hub.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from sandbox.changes import apply_changes
from sandbox.estate import SandboxEstate

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {"crm": 18081, "vies": 18082, "ares": 18083, "isir": 18084, "erp": 18022}


def configured_ports() -> dict[str, int]:
    return {name: int(os.environ.get(f"CUSTHUB_SANDBOX_{name.upper()}_PORT", port))
            for name, port in DEFAULT_PORTS.items()}


def write_connections(estate: SandboxEstate, path: Path) -> None:
    """Written to a temporary name and renamed: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(estate.connections(), indent=2), encoding="utf-8")
    partial.chmod(0o600)  # it holds the sandbox passwords
    partial.replace(path)


def serve(root: Path, connections: Path, stop: threading.Event, host: str = "127.0.0.1") -> None:
    with SandboxEstate(root, ports=configured_ports(), host=host) as estate:
        write_connections(estate, connections)
        print(f"sandbox estate up; connections in {connections}", flush=True)
        stop.wait()
    connections.unlink(missing_ok=True)  # a stale file would point Airflow at nothing


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def _answer(out: TextIO, started: float, **figures: Any) -> None:
    figures.update(seconds=time.perf_counter() - started, peak_rss_mb=peak_rss_mb())
    out.write(json.dumps(figures) + "\n")
    out.flush()


def serve_commands(root: Path, connections: Path, companies: int, seed: int,
                   commands: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    """The estate driven line by line (see the module's docstring)."""
    started, cpu = time.perf_counter(), time.process_time()
    estate = SandboxEstate(root, n_companies=companies, seed=seed)
    generated, generated_rss = time.perf_counter() - started, peak_rss_mb()
    generated_cpu = time.process_time() - cpu  # on a busy machine, the share it really got
    with estate:
        write_connections(estate, connections)
        _answer(out, started, ready=True, generate_seconds=generated,
                generate_cpu_seconds=generated_cpu, generate_peak_rss_mb=generated_rss, start_seconds=estate.seed_seconds,
                records={"crm": len(estate.generated.crm_accounts),
                         "accounting": len(estate.generated.accounting_rows),
                         "erp": len(estate.generated.erp_partners)})
        for line in commands:
            command, *args = line.split()
            started = time.perf_counter()
            if command == "inbound":
                _answer(out, started, applied=estate.process_inbound())
            elif command == "change":
                changes = apply_changes(estate, float(args[0]), int(args[1]))
                _answer(out, started, changes=changes.made)
            elif command == "status":
                _answer(out, started)
            elif command == "stop":
                break
            else:
                _answer(out, started, error=f"unknown command {command!r}")
    connections.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT / ".airflow" / "sandbox")
    parser.add_argument("--connections", type=Path,
                        default=ROOT / ".airflow" / "sandbox-connections.json")
    parser.add_argument("--host", default="127.0.0.1",
                        help="listen address; 0.0.0.0 only inside a container (docker-compose.yml)")
    parser.add_argument("--commands", action="store_true",
                        help="take commands on stdin, ports chosen by the OS (the nightly bench)")
    parser.add_argument("--companies", type=int, default=200, help="with --commands: estate size")
    parser.add_argument("--seed", type=int, default=7, help="with --commands: generator seed")
    args = parser.parse_args(argv)
    if args.commands:
        serve_commands(args.root, args.connections, args.companies, args.seed)
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serve(args.root, args.connections, stop, args.host)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
