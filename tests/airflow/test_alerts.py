"""A task that fails for good fires the Airflow Notifiers of ``orchestration.alerts``: the JSON
webhook reaches a real HTTP server on loopback, with its bearer token, and the SMTP provider's
notifier a real SMTP sink on loopback; neither message holds a connection's password. An
unreachable or undefined channel is logged, never raised over the task's own failure."""

from __future__ import annotations

import base64
import json
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from hub.alerts import send
from hub.orchestration_config import AlertConfig
from tests.fixtures.airflow import load_dag, run_dag, task_states, write_test_config

pytestmark = [pytest.mark.airflow]

WEBHOOK, SMTP = "custhub_alerts_webhook", "custhub_alerts_smtp"
TOKEN, SMTP_PASSWORD = "s3cret-token", "smtp-s3cret-pw"
DAG = "resync_window"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP (EHLO, AUTH PLAIN, MAIL, RCPT, DATA) to take one message."""

    messages: list[tuple[str, Message]] = []  # (the AUTH PLAIN credentials, the message)

    def handle(self) -> None:
        self._reply("220 sink")
        auth = ""
        while line := self.rfile.readline().decode("utf-8").rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._reply("250-sink", "250 AUTH PLAIN")
            elif verb == "AUTH":
                auth = base64.b64decode(line.split(" ")[2]).decode("utf-8")
                self._reply("235 ok")
            elif verb == "DATA":
                self._reply("354 go on")
                self.messages.append((auth, message_from_bytes(self._data())))
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 ok")

    def _data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)

    def _reply(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())


def _serve(server: socketserver.BaseServer) -> None:
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _serve(server)
    _Receiver.received = []
    monkeypatch.setenv(f"AIRFLOW_CONN_{WEBHOOK.upper()}", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": server.server_address[1], "schema": "http",
        "password": TOKEN, "extra": {"endpoint": "/hooks/custhub"}}))
    yield _Receiver.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    server.daemon_threads = True
    _serve(server)
    _SmtpSink.messages = []
    monkeypatch.setenv(f"AIRFLOW_CONN_{SMTP.upper()}", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": server.server_address[1],
        "login": "alerts", "password": SMTP_PASSWORD,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "custhub@example.test",
                  "retry_limit": 0, "timeout": 10}}))
    yield _SmtpSink.messages
    server.shutdown()
    server.server_close()


def test_a_failed_task_fires_both_notifiers(webhook: list, smtp_sink: list, airflow_db: Path,
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTHUB_CONFIG", str(write_test_config(tmp_path, retries=1, alerts={
        "webhook_conn_id": WEBHOOK, "email_conn_id": SMTP, "email_to": ["it@example.test"]})))
    # A system hub.yaml does not know: the plan task refuses it, on its try and its one retry.
    dag_run = run_dag(load_dag(DAG), run_conf={"systems": ["sap"], "start": "2026-03-02",
                                               "end": "2026-03-03", "dry_run": True})
    assert task_states(dag_run)["plan"] == "failed"

    [(headers, body)] = webhook
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert body["dag_id"] == DAG and body["task_id"] == "plan" and body["try_number"] == 2
    assert body["error"].startswith("ConfigError: backfill params:") and "sap" in body["error"]
    assert f"{DAG}.plan failed" in body["text"]

    [(auth, mail)] = smtp_sink
    assert SMTP_PASSWORD in auth  # the sink saw the real login, so the secret was there to leak
    assert mail["To"] == "it@example.test" and mail["From"] == "custhub@example.test"
    assert f"{DAG}.plan failed" in mail["Subject"]
    text = mail.as_string() + json.dumps(body) + mail.get_payload(0).get_payload(decode=True).decode()
    assert body["error"] in text
    assert SMTP_PASSWORD not in text and TOKEN not in text


def test_an_unreachable_or_undefined_channel_is_logged_not_raised(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from hub.alerts import Alert

    alert = Alert(dag_id="nightly_batch", task_id="publish", run_id="r", try_number=4, map_index=2,
                  error="ConnectionError: refused")
    monkeypatch.setenv(f"AIRFLOW_CONN_{WEBHOOK.upper()}", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http"}))  # discard port
    monkeypatch.setenv(f"AIRFLOW_CONN_{SMTP.upper()}", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": 9, "password": SMTP_PASSWORD,
         "extra": {"disable_ssl": True, "retry_limit": 0, "from_email": "c@example.test"}}))
    assert send(alert, AlertConfig(webhook_conn_id=WEBHOOK, email_conn_id=SMTP,
                                   email_to=["it@example.test"], timeout_seconds=2)) == []
    assert send(alert, AlertConfig(webhook_conn_id="custhub_no_such_conn")) == []
    assert "alert webhook" in caplog.text and "alert e-mail" in caplog.text
    assert "not defined" in caplog.text and SMTP_PASSWORD not in caplog.text
