"""The failure alert reaches a real HTTP server on loopback, with its bearer token, and an
unreachable or undefined channel is logged, never raised over the task's own failure."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from hub.alerts import on_task_failure, send
from hub.orchestration_config import AlertConfig

CONN = "custhub_alerts_webhook"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    _Receiver.received = []
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": server.server_address[1], "schema": "http",
        "password": "s3cret-token", "extra": {"endpoint": "/hooks/custhub"}}))
    yield _Receiver.received
    server.shutdown()
    server.server_close()


def _context() -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="nightly_batch", task_id="publish", run_id="scheduled__2026-03-02",
                         try_number=4, map_index=2)
    return {"ti": ti, "run_id": ti.run_id, "exception": ConnectionError("sftp: connection refused\nmore")}


def test_a_failed_task_posts_the_alert_to_the_webhook(webhook: list, dag_config: Any) -> None:
    on_task_failure(_context())  # reads orchestration.alerts from the test hub.yaml
    [(headers, body)] = webhook
    assert headers["Authorization"] == "Bearer s3cret-token"
    assert body["dag_id"] == "nightly_batch" and body["task_id"] == "publish"
    assert body["map_index"] == 2 and body["try_number"] == 4
    assert body["error"] == "ConnectionError: sftp: connection refused"  # one line, no trace
    assert "nightly_batch.publish failed" in body["text"]


def test_an_unreachable_or_undefined_channel_is_logged_not_raised(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from hub.alerts import alert_from_context

    alert = alert_from_context(_context())
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http"}))  # discard port
    assert send(alert, AlertConfig(webhook_conn_id=CONN, timeout_seconds=2)) == []
    assert send(alert, AlertConfig(webhook_conn_id="custhub_no_such_conn")) == []
    assert "alert webhook" in caplog.text and "not defined" in caplog.text
