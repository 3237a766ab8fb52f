"""The failure alert as Airflow Notifiers: a JSON webhook (Teams/Slack style) and the SMTP
provider's ``SmtpNotifier``, both built from ``orchestration.alerts`` and set as every task's
``on_failure_callback`` (hub.orchestration.default_args).

Each notifier also delivers an ``Alert`` outside a task (a system left out of a run,
hub.pipeline.isolation). The message holds the task's ids and a one-line error, never a
connection's secret; a channel that cannot be reached is logged and never hides the task's own
failure.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import asdict
from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import BaseNotifier

from core.connections import ConnectionInfo
from hub.alerts import Alert, alert_from_context, one_line
from hub.orchestration_config import AlertConfig

log = logging.getLogger(__name__)


class WebhookNotifier(BaseNotifier):
    """POST the alert as JSON to the HTTP connection's URL, its password as a bearer token."""

    template_fields = ()

    def __init__(self, conn_id: str, timeout_seconds: float = 10) -> None:
        super().__init__()
        self.conn_id, self.timeout_seconds = conn_id, timeout_seconds

    def notify(self, context: Any) -> None:
        self.deliver(alert_from_context(context))

    def deliver(self, alert: Alert) -> bool:
        import requests

        from connectors.errors import ConnectorConfigError
        from connectors.http import endpoint_url, http_session

        conn = _connection(self.conn_id)
        if conn is None:
            return False
        headers = {"Content-Type": "application/json"}
        token = conn.password.get_secret_value()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps({"text": alert.subject, **asdict(alert)}).encode("utf-8")
        try:  # the guarded session never re-posts the alert (and its token) to another address
            with http_session(conn) as session:
                response = session.post(endpoint_url(conn, "/"), data=body, headers=headers,
                                        timeout=self.timeout_seconds)
            return 200 <= response.status_code < 300
        except (ConnectorConfigError, requests.RequestException) as e:
            log.warning("alert webhook %s failed: %s", self.conn_id, one_line(e))
            return False


class AlertSmtpNotifier(SmtpNotifier):
    """The SMTP provider's notifier with the alert's own subject and body: the error text is set
    after Airflow renders the templates, so a ``{{`` in an exception is never evaluated."""

    def notify(self, context: Any) -> None:
        self.deliver(alert_from_context(context))

    def deliver(self, alert: Alert) -> bool:
        if _connection(self.smtp_conn_id) is None:
            return False
        self.subject = alert.subject
        self.html_content = f"<pre>{html.escape(json.dumps(asdict(alert), indent=2))}</pre>"
        try:
            super().notify({})
        except Exception as e:  # noqa: BLE001 — an alert that cannot go must not hide the failure
            log.warning("alert e-mail through %s failed: %s", self.smtp_conn_id, one_line(e))
            return False
        return True


def failure_notifiers(config: AlertConfig) -> list[WebhookNotifier | AlertSmtpNotifier]:
    """The configured channels, in the order they are tried."""
    notifiers: list[WebhookNotifier | AlertSmtpNotifier] = []
    if config.webhook_conn_id:
        notifiers.append(WebhookNotifier(config.webhook_conn_id, config.timeout_seconds))
    if config.email_conn_id and config.email_to:
        notifiers.append(AlertSmtpNotifier(to=config.email_to, smtp_conn_id=config.email_conn_id))
    return notifiers


def _connection(conn_id: str) -> ConnectionInfo | None:
    from core.errors import ConfigError
    from hub.connections import get_connection

    try:
        return get_connection(conn_id)
    except ConfigError:  # the connection is not defined
        log.warning("alert connection %s is not defined; alert not sent", conn_id)
        return None
