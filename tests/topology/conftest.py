"""The production topology (sandbox.prod_local: docker-compose.yml's services as processes of this
machine) started once per test module, with its own databases, home and ports, so that it runs
beside the other xdist workers; and what a test needs to drive it: Airflow's REST API and a gate
in front of the CRM that can hold a write in flight."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import yaml

from sandbox import serve
from sandbox.prod_local import Site, Topology, drop_databases, free_port, make_site
from tests.fixtures.airflow import write_test_config
from tests.fixtures.databases import PG_ADMIN_URL

# Test-only settings, on top of the compose file's: one task slot per worker, so that tasks
# ready together go to both workers; a dead worker's task declared dead after 30 s, not 300.
OVERRIDES = {"AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
             # A steward (op) and a viewer besides the admin, for the review page.
             "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,steward:op,viewer:viewer",
             "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
             "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
             # No scheduled run when a test unpauses a DAG: the runs are triggered or backfilled
             # (hub.yaml's own schedules, so that a backfill's slots are the shipped ones).
             "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}
WEBHOOK = "custhub_alerts_webhook"  # hub.yaml's orchestration.alerts.webhook_conn_id


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """This directory's tests first: the longest module of the suite starts at once on its xdist
    worker, so that the suite's wall time is not its minutes added after everyone else's."""
    here = Path(__file__).parent
    items.sort(key=lambda item: here not in Path(str(item.path)).parents)


class CrmGate:
    """A loopback HTTP relay in front of the CRM. ``hold_after(n)``: the n+1-th UpsertAccount and
    any later one are held (never forwarded) until ``release``; ``held`` is set when one is."""

    def __init__(self) -> None:
        self.upstream = 0
        self.upserts = 0
        self.limit: int | None = None
        self.held, self.released = threading.Event(), threading.Event()
        gate = self

        class Relay(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gate.relay(self, b"")

            def do_POST(self) -> None:
                gate.relay(self, self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def route(self, connections: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The estate's connections with the CRM's pointing here."""
        self.upstream = connections["custhub_crm"]["port"]
        return {**connections, "custhub_crm": {**connections["custhub_crm"], "port": self.port}}

    def hold_after(self, n: int) -> None:
        self.upserts, self.limit = 0, n
        self.held.clear()
        self.released.clear()

    def release(self) -> None:
        self.limit = None
        self.released.set()

    def relay(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if b"UpsertAccount" in body and self.limit is not None:
            self.upserts += 1
            if self.upserts > self.limit:
                self.held.set()
                self.released.wait(timeout=300)
                handler.close_connection = True  # its sender is dead: the write never lands
                return
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=60)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(handler.command, handler.path, body=body or None, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        handler.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
        upstream.close()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()


class Webhook:
    """A loopback HTTP server that keeps what the alert notifier posts: (headers, JSON body)."""

    TOKEN = secrets.token_urlsafe(16)

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        hook = self

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.received.append((dict(self.headers), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def connection(self) -> dict[str, Any]:
        return {"conn_type": "http", "host": "127.0.0.1", "port": self.server.server_address[1],
                "schema": "http", "password": self.TOKEN, "extra": {"endpoint": "/custhub-alerts"}}

    def stop(self) -> None:
        self.server.shutdown()


@dataclass
class AirflowApi:
    """Airflow's REST API (v2) as the admin user of the simple auth manager."""

    base: str
    password_file: Path
    session: requests.Session = field(default_factory=requests.Session)

    def token(self, user: str) -> str:
        """A JWT from Airflow's login endpoint (the UI keeps it in the ``_token`` cookie)."""
        password = json.loads(self.password_file.read_text())[user]
        answer = requests.post(f"{self.base}/auth/token", json={"username": user, "password": password},
                               timeout=30)
        assert answer.status_code == 201, answer.status_code
        return str(answer.json()["access_token"])

    def login(self) -> AirflowApi:
        self.session.headers["Authorization"] = f"Bearer {self.token('admin')}"
        return self

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.session.request(method, f"{self.base}/api/v2{path}", timeout=60, **kwargs)
        assert answer.status_code < 300, f"{method} {path}: {answer.status_code} {answer.text[:500]}"
        return answer.json()

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while self.session.get(f"{self.base}/api/v2/dags/{dag_id}", timeout=30).status_code != 200:
            errors = self.call("GET", "/importErrors")["import_errors"]
            assert errors == [], errors
            assert time.monotonic() < deadline, f"{dag_id} was not parsed in time"
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900) -> str:
        deadline = time.monotonic() + timeout
        while (state := self.run_state(dag_id, run_id)) not in ("success", "failed"):
            assert time.monotonic() < deadline, f"{dag_id} {run_id} still {state}"
            time.sleep(2)
        return state

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                              params={"limit": 100})["task_instances"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}"))

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/"
                                     f"{map_index}/tries")["task_instances"])


@dataclass
class Running:
    topology: Topology
    api: AirflowApi
    gate: CrmGate
    webhook: Webhook
    config: Path
    estate_root: Path


def _test_config(home: Path) -> Path:
    path = write_test_config(home, retries=1)  # one retry: enough for a killed worker's task
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    # One account per UpsertAccount call, so that the gate can hold the CRM's publish midway.
    raw["systems"]["crm"].setdefault("connector", {}).update(write_batch_size=1)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    home = tmp_path_factory.mktemp("topology")
    config = _test_config(home)
    site: Site = make_site(home, f"custhub_topo_{os.getpid()}_{secrets.token_hex(3)}", PG_ADMIN_URL)
    estate_ports = {f"CUSTHUB_SANDBOX_{name.upper()}_PORT": str(free_port()) for name in serve.DEFAULT_PORTS}
    gate, webhook = CrmGate(), Webhook()
    topology = Topology(site, {**OVERRIDES, **estate_ports, "CUSTHUB_CONFIG": str(config)},
                        adjust_connections=lambda c: {**gate.route(c), WEBHOOK: webhook.connection()})
    try:
        topology.start(timeout=600)
        print(f"topology up in {topology.started_seconds:.0f} s")
        api = AirflowApi(topology.ui, topology.password_file).login()
        yield Running(topology, api, gate, webhook, config, site.estate_root)
    finally:
        gate.release()
        started = _process_trees(topology)
        topology.stop()
        gate.stop()
        webhook.stop()
        drop_databases(site)
    # Stopped by process id, as on SIGTERM: nothing it started is left running or listening.
    left = [p.pid for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], left
    assert [port for port in (site.api_port, site.port("redis")) if _listening(port)] == []


def _process_trees(topology: Topology) -> list[psutil.Process]:
    trees = []
    for process in topology.processes.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            leader = psutil.Process(process.pid)
            trees += [leader, *leader.children(recursive=True)]
    return trees


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        return True
    return False
