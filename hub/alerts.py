"""Tell IT when a task has failed for good: a JSON webhook and/or an e-mail, as hub.yaml says.

Airflow calls ``on_task_failure`` after the last retry. The addresses and credentials live in
Airflow connections (``orchestration.alerts`` names them); an alert that cannot be delivered
is logged and never hides the task's own failure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from hub.orchestration_config import AlertConfig, load_orchestration
from core.connections import ConnectionInfo
from core.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    dag_id: str
    task_id: str
    run_id: str
    try_number: int | None
    map_index: int | None
    error: str

    @property
    def subject(self) -> str:
        return f"custhub: {self.dag_id}.{self.task_id} failed ({self.run_id})"


def on_task_failure(context: Mapping[str, Any]) -> None:
    """Airflow's on_failure_callback: build the alert from the task context and send it."""
    send(alert_from_context(context), load_orchestration().alerts)


def alert_from_context(context: Mapping[str, Any]) -> Alert:
    ti = context.get("ti") or context.get("task_instance")
    return Alert(dag_id=str(getattr(ti, "dag_id", "?")), task_id=str(getattr(ti, "task_id", "?")),
                 run_id=str(context.get("run_id") or getattr(ti, "run_id", "?")),
                 try_number=getattr(ti, "try_number", None), map_index=getattr(ti, "map_index", None),
                 error=_one_line(context.get("exception")))


def send(alert: Alert, config: AlertConfig) -> list[str]:
    """Send through every configured channel; returns the channels that took the alert."""
    delivered = []
    if config.webhook_conn_id and _post_webhook(alert, config):
        delivered.append("webhook")
    if config.email_conn_id and config.email_to and _send_email(alert, config):
        delivered.append("email")
    return delivered


def _connection(conn_id: str) -> ConnectionInfo | None:
    from hub.connections import get_connection

    try:
        return get_connection(conn_id)
    except ConfigError:  # the connection is not defined
        log.warning("alert connection %s is not defined; alert not sent", conn_id)
        return None


def webhook_url(conn: ConnectionInfo) -> str:
    """http(s)://host[:port]/endpoint: the scheme in the connection's schema, the path in extra;
    plain http off loopback only with extra ``allow_insecure: true`` (the token is in a header)."""
    from connectors.http import endpoint_url

    return endpoint_url(conn, "/")


def _post_webhook(alert: Alert, config: AlertConfig) -> bool:
    import requests

    from connectors.errors import ConnectorConfigError
    from connectors.http import http_session

    conn = _connection(config.webhook_conn_id or "")
    if conn is None:
        return False
    headers = {"Content-Type": "application/json"}
    token = conn.password.get_secret_value()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"text": alert.subject, **asdict(alert)}).encode("utf-8")
    try:  # the guarded session never re-posts the alert (and its token) to another address
        with http_session(conn) as session:
            response = session.post(webhook_url(conn), data=body, headers=headers,
                                    timeout=config.timeout_seconds)
        return 200 <= response.status_code < 300
    except (ConnectorConfigError, requests.RequestException) as e:
        log.warning("alert webhook %s failed: %s", config.webhook_conn_id, _one_line(e))
        return False


def _send_email(alert: Alert, config: AlertConfig) -> bool:
    import smtplib
    from email.message import EmailMessage

    conn = _connection(config.email_conn_id or "")
    if conn is None:
        return False
    message = EmailMessage()
    message["Subject"], message["To"] = alert.subject, ", ".join(config.email_to)
    message["From"] = str(conn.extra.get("from_email", conn.login or "custhub"))
    message.set_content(json.dumps(asdict(alert), indent=2))
    try:
        with smtplib.SMTP(conn.host or "localhost", conn.port or 25, timeout=config.timeout_seconds) as smtp:
            if conn.extra.get("starttls", True):
                smtp.starttls()
            if conn.login:
                smtp.login(conn.login, conn.password.get_secret_value())
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as e:
        log.warning("alert e-mail through %s failed: %s", config.email_conn_id, e)
        return False
    return True


def _one_line(error: object) -> str:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error or "")
    return text.splitlines()[0][:500] if text else ""
