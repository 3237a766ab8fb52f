"""Tell IT when a task has failed for good: a JSON webhook and/or an e-mail, as hub.yaml says.

The channels are Airflow Notifiers (hub.notifiers), set as every task's ``on_failure_callback``,
which Airflow calls after the last retry. The addresses and credentials live in Airflow
connections (``orchestration.alerts`` names them); an alert that cannot be delivered is logged
and never hides the task's own failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.orchestration_config import AlertConfig


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


def alert_from_context(context: Mapping[str, Any]) -> Alert:
    ti = context.get("ti") or context.get("task_instance")
    return Alert(dag_id=str(getattr(ti, "dag_id", "?")), task_id=str(getattr(ti, "task_id", "?")),
                 run_id=str(context.get("run_id") or getattr(ti, "run_id", "?")),
                 try_number=getattr(ti, "try_number", None), map_index=getattr(ti, "map_index", None),
                 error=one_line(context.get("exception")))


def send(alert: Alert, config: AlertConfig) -> list[str]:
    """Send outside a task (a system left out of a run) through every configured channel;
    returns the channels that took the alert."""
    from hub.notifiers import WebhookNotifier, failure_notifiers

    return [("webhook" if isinstance(notifier, WebhookNotifier) else "email")
            for notifier in failure_notifiers(config) if notifier.deliver(alert)]


def one_line(error: object) -> str:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error or "")
    return text.splitlines()[0][:500] if text else ""
