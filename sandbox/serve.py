"""Run the sandbox estate as a long-lived process on fixed loopback ports (for `make airflow`).

    python -m sandbox.serve [--root .airflow/sandbox] [--connections FILE]

Starts every simulated system, writes their Airflow connections (the JSON that `airflow
connections import` reads) to FILE once they listen, and blocks until SIGTERM or Ctrl-C. The
ports are fixed (below, or CUSTHUB_SANDBOX_<SERVICE>_PORT) so that the connections stored in
Airflow's database stay right across restarts; passwords persist in the estate's root.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT / ".airflow" / "sandbox")
    parser.add_argument("--connections", type=Path, default=ROOT / ".airflow" / "sandbox-connections.json")
    parser.add_argument("--host", default="127.0.0.1",
                        help="listen address; 0.0.0.0 only inside a container (docker-compose.yml)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serve(args.root, args.connections, stop, args.host)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
