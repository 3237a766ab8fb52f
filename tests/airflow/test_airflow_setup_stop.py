"""`make airflow` stopped as systemd or `kill` stops it: SIGTERM to `python -m
sandbox.airflow_setup` (and SIGINT, as Ctrl-C) stops `airflow standalone` and the sandbox estate
it started; nothing it started is left running or listening."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sandbox import serve

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _environment(home: Path, api_port: int, estate_ports: dict[str, int]) -> dict[str, str]:
    """A private AIRFLOW_HOME, store and ports: none of the test session's Airflow settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "CUSTHUB_STORE_URL", "CUSTHUB_CONFIG"))}
    env.update({"AIRFLOW_HOME": str(home), "CUSTHUB_AIRFLOW_PORT": str(api_port),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
                **{f"CUSTHUB_SANDBOX_{name.upper()}_PORT": str(port)
                   for name, port in estate_ports.items()}})
    return env


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_airflow_and_the_estate(tmp_path: Path, signum: int) -> None:
    estate_ports = {name: _free_port() for name in serve.DEFAULT_PORTS}
    api_port = _free_port()
    ports = [api_port, *estate_ports.values()]
    output = tmp_path / "airflow_setup.out"
    with output.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "sandbox.airflow_setup"], cwd=ROOT,
                                   env=_environment(tmp_path / "home", api_port, estate_ports),
                                   stdout=sink, stderr=subprocess.STDOUT)
    try:
        # Started: the estate serves and Airflow's API server listens (its scheduler and DAG
        # processor are started with it, by `airflow standalone`).
        deadline = time.monotonic() + 240
        while not all(_listening(port) for port in ports):
            assert process.poll() is None, output.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, output.read_text(errors="replace")[-3000:]
            time.sleep(1)
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 3  # the estate, `airflow standalone` and its components
        process.send_signal(signum)  # to the process alone, as `kill` or systemd's stop sends it
        assert process.wait(timeout=120) == 0, output.read_text(errors="replace")[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [(c.pid, c.cmdline()) for c in alive]
    assert [port for port in ports if _listening(port)] == []
    assert f"{signal.Signals(signum).name}: stopping" in output.read_text(errors="replace")


def test_its_store_and_reports_live_in_its_own_home_apart_from_the_demos(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _environment(home, _free_port(), {})
    shown = subprocess.run([sys.executable, "-c", "import os; from sandbox.airflow_setup import "
                            "prepare_environment; prepare_environment(); "
                            "print(os.environ['CUSTHUB_STORE_URL']); print(os.environ['CUSTHUB_REPORT_DIR'])"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    store, reports = shown.stdout.split()
    assert store == f"sqlite:///{home / 'hub.db'}" and reports == str(home / "reports")
    assert ".demo" not in store + reports
