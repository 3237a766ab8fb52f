"""`make airflow`: Airflow standalone on SQLite with the DAGs, the pools and the sandbox's connections.

    python -m sandbox.airflow_setup            # start; Ctrl-C or SIGTERM stops Airflow and the estate
    python -m sandbox.airflow_setup --check    # start, wait until healthy with the DAGs loaded, stop

The sandbox estate runs in its own long-lived process (sandbox.serve) on fixed loopback ports;
its connections and the pools of hub.yaml are written into Airflow's database here, by code,
never typed by hand. Everything lives under AIRFLOW_HOME (.airflow/ unless set; `make demo-reset`
removes it). SIGTERM (systemd, kill) and SIGINT (Ctrl-C) stop the process groups it started,
Airflow's and the estate's, before it exits: nothing is left listening on their ports.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("AIRFLOW_HOME") or ROOT / ".airflow")
CONNECTIONS_FILE = HOME / "sandbox-connections.json"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
API_PORT = int(os.environ.get("CUSTHUB_AIRFLOW_PORT", "8080"))
BIN = Path(sys.executable).parent


def prepare_environment() -> None:
    """Before Airflow is imported: it reads AIRFLOW_HOME once, at import."""
    os.environ.setdefault("AIRFLOW_HOME", str(HOME))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__API__PORT", str(API_PORT))
    os.environ.setdefault("AIRFLOW__API__HOST", "127.0.0.1")  # loopback only: a development setup
    # Tasks reach the API server here; Airflow's default assumes port 8080.
    os.environ.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                          f"http://127.0.0.1:{API_PORT}/execution/")
    # This environment's store and reports side by side, apart from the demo's (.demo/).
    os.environ.setdefault("CUSTHUB_STORE_URL", f"sqlite:///{HOME / 'hub.db'}")
    os.environ.setdefault("CUSTHUB_REPORT_DIR", str(HOME / "reports"))
    os.environ.setdefault("CUSTHUB_CONFIG", str(ROOT / "config" / "hub.yaml"))
    # `airflow standalone` starts its components as `airflow ...` found on PATH.
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def sync_pools() -> list[str]:
    """The pools hub.yaml declares, created or resized in Airflow's database."""
    from airflow.models.pool import Pool

    from hub.orchestration_config import load_orchestration

    pools = load_orchestration().pools
    for name, pool in pools.items():
        Pool.create_or_update_pool(name, pool.slots, pool.description, include_deferred=False)
    return sorted(pools)


def import_connections(connections: dict[str, dict[str, Any]]) -> list[str]:
    """Create or replace each connection (JSON form, as `airflow connections import` reads)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        for conn_id, fields in connections.items():
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()
            extra = fields.get("extra")
            session.add(Connection(conn_id=conn_id, conn_type=fields["conn_type"],
                                   host=fields.get("host"), port=fields.get("port"),
                                   login=fields.get("login"), password=fields.get("password"),
                                   schema=fields.get("schema"),
                                   extra=json.dumps(extra) if isinstance(extra, dict) else extra))
    return sorted(connections)


def prepare(connections: dict[str, dict[str, Any]]) -> None:
    """Airflow's database migrated, with these connections and hub.yaml's pools, in the
    AIRFLOW_HOME of this process's environment."""
    _run(str(BIN / "airflow"), "db", "migrate")
    print("connections:", ", ".join(import_connections(connections)))
    print("pools:", ", ".join(sync_pools()))


def start_standalone(env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    """`airflow standalone` in its own process group (stop it with ``stop``), its stdout and
    stderr written to ``output``."""
    with output.open("ab") as sink:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([str(BIN / "airflow"), "standalone"], cwd=ROOT, env=env,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own group, and everything in that group."""
    stop_group(process)


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")


def wait_for_file(path: Path, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the estate (``process``) has written ``path``; it stopping first ends the wait."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise SystemExit(f"the sandbox estate stopped (exit {process.returncode})")
        if time.monotonic() > deadline:
            raise SystemExit(f"the sandbox estate did not come up within {timeout:.0f} s")
        time.sleep(0.2)


def healthy(process: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """Public form of the health wait, for an Airflow on another port (tests)."""
    return _healthy(process, timeout, port)


def _healthy(process: subprocess.Popen[bytes], timeout: float, port: int = API_PORT) -> bool:
    """The api-server answers and the scheduler and DAG processor report healthy."""
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                health = json.load(response)
            parts = ("metadatabase", "scheduler", "dag_processor")
            if all(health.get(p, {}).get("status") == "healthy" for p in parts):
                return True
        except (urllib.error.URLError, OSError, ValueError):
            pass  # not listening yet
        time.sleep(2)
    return False


def stop_group(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """SIGTERM to the child's own process group (it was started in a new session), then wait
    until every member has gone: `airflow standalone`'s components outlive it by seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _group_alive(process.pid):
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
        process.poll()  # reap the leader, so that it does not linger as a zombie
        time.sleep(0.5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class Stopped(Exception):
    """SIGTERM or SIGINT arrived: stop what this process started, then exit."""


def raise_stopped(signum: int, frame: Any) -> None:
    raise Stopped(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """SIGTERM and SIGINT raise ``Stopped``: the default SIGTERM would end this process and
    orphan the process groups it started."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, raise_stopped)


def ignore_signals() -> None:
    """While stopping: a second signal must not cut the clean-up short."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="start, wait until healthy with the DAGs loaded, then stop")
    args = parser.parse_args(argv)
    stop_on_signals()
    prepare_environment()
    HOME.mkdir(exist_ok=True)
    CONNECTIONS_FILE.unlink(missing_ok=True)
    estate = subprocess.Popen([str(BIN / "python"), "-m", "sandbox.serve", "--root",
                               str(HOME / "sandbox"), "--connections", str(CONNECTIONS_FILE)],
                              cwd=ROOT, start_new_session=True)
    airflow: subprocess.Popen[bytes] | None = None
    try:
        wait_for_file(CONNECTIONS_FILE, estate, timeout=60)
        prepare(json.loads(CONNECTIONS_FILE.read_text()))
        airflow = subprocess.Popen([str(BIN / "airflow"), "standalone"], cwd=ROOT,
                                   start_new_session=True)
        if args.check:
            ok = _healthy(airflow, timeout=180) and _dags_loaded()
            print("Airflow is up with the custhub DAGs" if ok else "Airflow did not come up")
            return 0 if ok else 1
        print(f"Airflow on http://127.0.0.1:{API_PORT} (login in {HOME}/simple_auth_manager_passwords.json.generated); Ctrl-C stops it")
        airflow.wait()
        return airflow.returncode
    except Stopped as stopped:
        print(f"{stopped}: stopping Airflow and the sandbox estate")
        return 0
    finally:
        ignore_signals()
        if airflow is not None:
            stop_group(airflow)
        stop_group(estate)


def _dags_loaded() -> bool:
    """The DAG processor has stored every custhub DAG and no import error."""
    from airflow.models.dag import DagModel
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session

    wanted = {"crm_sync", "nightly_batch", "registry_refresh", "resync_window"}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with create_session() as session:
            listed = {d for (d,) in session.query(DagModel.dag_id).filter(DagModel.is_stale.is_(False))}
            errors = [e.filename for e in session.query(ParseImportError)]
        if errors:
            print("DAG import errors:", errors)
            return False
        if wanted <= listed:
            return True
        time.sleep(3)
    return False


if __name__ == "__main__":
    raise SystemExit(main())
