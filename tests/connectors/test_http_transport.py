"""The HTTP transport policy, through real requests, zeep and loopback servers: plain http off
loopback is refused unless the connection allows it (then warned), and a redirected SOAP POST or
webhook is never re-sent to the host the redirect names."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from connectors.errors import ConnectorConfigError
from connectors.http import endpoint_url, http_session
from connectors.soap.crm import CrmSoapConnector, Settings
from core.connections import ConnectionInfo
from tests.fixtures.soap import CRM_PASSWORD, CRM_USER, loopback_conn

pytestmark = pytest.mark.integration


def _remote(host: str, **extra: Any) -> ConnectionInfo:
    return ConnectionInfo(conn_id="crm_soap", conn_type="http", host=host, port=8080, login="u",
                          password=SecretStr("pw-never-shown"), schema="http", extra=extra)


@pytest.mark.parametrize("host", ["crm.example.com", "10.1.2.3", "::ffff:10.1.2.3"])
def test_plain_http_off_loopback_is_a_one_line_config_error(host: str) -> None:
    with pytest.raises(ConnectorConfigError) as raised:
        endpoint_url(_remote(host), "/crm")
    message = str(raised.value)
    assert "plain http" in message and host in message and "allow_insecure" in message
    assert "\n" not in message and "pw-never-shown" not in message


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_plain_http_to_loopback_needs_no_permission(host: str) -> None:
    assert endpoint_url(_remote(host), "/crm").startswith("http://")


def test_allowed_plain_http_is_warned_every_time_without_secrets(
        caplog: pytest.LogCaptureFixture) -> None:
    conn = _remote("crm.example.com", allow_insecure=True)
    with caplog.at_level(logging.WARNING, logger="custhub.http"):
        assert endpoint_url(conn, "/crm") == "http://crm.example.com:8080/crm"
        endpoint_url(conn, "/crm")
    warnings = [r for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == 2 and "pw-never-shown" not in caplog.text


def test_https_anywhere_is_fine() -> None:
    assert endpoint_url(replace(_remote("crm.example.com"), schema="https"), "crm") \
        == "https://crm.example.com:8080/crm"


# -- redirects -----------------------------------------------------------------------------

class _Recorder(BaseHTTPRequestHandler):
    """Another host's server: it records whatever reaches it."""

    seen: list[tuple[str, bytes]] = []

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append((self.command, self.rfile.read(length)))
        moved = self.path == "/old"  # a page that moved on this same server
        self.send_response(302 if moved else 200)
        if moved:
            self.send_header("Location", "/new")
            self.send_header("Content-Length", "0")
        self.send_header("Content-Type", "text/xml")
        self.end_headers()

    do_GET = do_POST = _record  # noqa: N815 (http.server's naming)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def _redirector(target: str, status: int) -> type[BaseHTTPRequestHandler]:
    class Redirect(BaseHTTPRequestHandler):
        def _redirect(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _redirect  # noqa: N815

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    return Redirect


def _serve(host: str, handler: type[BaseHTTPRequestHandler]) -> Iterator[HTTPServer]:
    server = HTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def elsewhere() -> Iterator[str]:
    """A server on another loopback address (another host as far as HTTP is concerned)."""
    _Recorder.seen = []
    for server in _serve("127.0.0.2", _Recorder):
        yield f"http://127.0.0.2:{server.server_address[1]}"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirected_soap_post_is_refused_naming_the_host_and_nothing_reaches_it(
        elsewhere: str, status: int) -> None:
    for front in _serve("127.0.0.1", _redirector(elsewhere, status)):
        conn = loopback_conn("crm_soap", front.server_address[1], CRM_USER, CRM_PASSWORD)
        connector = CrmSoapConnector("crm", Settings(retry_attempts=2, retry_initial_wait=0.01,
                                                     retry_max_wait=0.02), conn)
        with pytest.raises(ConnectorConfigError) as raised:
            list(connector.read_pages(None))
    message = str(raised.value)
    assert f"HTTP {status}" in message and elsewhere.removeprefix("http://") in message
    assert "\n" not in message and CRM_PASSWORD not in message
    assert _Recorder.seen == []  # neither the body nor the WS-Security header went there


def test_a_get_follows_a_same_host_redirect_but_not_another_host(elsewhere: str) -> None:
    session = http_session(loopback_conn("ares", 1))
    answer = session.get(elsewhere + "/old", timeout=5)
    assert (answer.status_code, answer.url) == (200, elsewhere + "/new")
    assert [method for method, _ in _Recorder.seen] == ["GET", "GET"]
    for front in _serve("127.0.0.1", _redirector(elsewhere, 302)):
        with pytest.raises(requests.RequestException, match="127.0.0.2"):
            session.get(f"http://127.0.0.1:{front.server_address[1]}/x", timeout=5)
    assert len(_Recorder.seen) == 2


def _logged(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    # Airflow's first import may route logging through structlog to stdout instead of caplog
    return caplog.text + capfd.readouterr().out


def test_a_redirected_webhook_alert_is_not_re_posted(
        elsewhere: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    from hub.alerts import Alert, send
    from hub.orchestration_config import AlertConfig

    alert = Alert("nightly_batch", "publish", "run-1", 1, None, "boom")
    for front in _serve("127.0.0.1", _redirector(elsewhere, 307)):
        monkeypatch.setenv("AIRFLOW_CONN_CUSTHUB_TEST_HOOK", json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": front.server_address[1],
            "schema": "http", "password": "hook-token-xyz"}))
        assert send(alert, AlertConfig(webhook_conn_id="custhub_test_hook")) == []
    logged = _logged(caplog, capfd)
    assert _Recorder.seen == [] and "127.0.0.2" in logged and "hook-token-xyz" not in logged


def test_a_plain_http_webhook_off_loopback_is_refused_and_logged(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    from hub.alerts import Alert, send
    from hub.orchestration_config import AlertConfig

    monkeypatch.setenv("AIRFLOW_CONN_CUSTHUB_TEST_HOOK", json.dumps({
        "conn_type": "http", "host": "hooks.example.com", "schema": "http",
        "password": "hook-token-xyz"}))
    alert = Alert("nightly_batch", "publish", "run-1", 1, None, "boom")
    assert send(alert, AlertConfig(webhook_conn_id="custhub_test_hook")) == []
    logged = _logged(caplog, capfd)
    assert "plain http to hooks.example.com is refused" in logged
    assert "hook-token-xyz" not in logged
