"""One exception tree for everything a connector can raise.

Driver errors (zeep, requests, pyodbc, SQLAlchemy, paramiko) are translated at the
connector boundary with ``raise ... from e``; callers see only these classes, each
carrying the action the failure calls for and what kind of failure it is.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    RETRY = "retry"  # transient: try again with backoff
    FAIL = "fail"  # stop the task: configuration or a server that says no
    QUARANTINE = "quarantine"  # this record is bad; keep it aside and go on


class Kind(StrEnum):
    CONFIG = "config"
    TRANSIENT = "transient"
    DATA = "data"
    SECURITY = "security"
    CONFLICT = "conflict"


class ConnectorError(Exception):
    """Root of every error a connector raises. Messages never contain secrets."""

    action: Action = Action.FAIL
    kind: Kind = Kind.CONFIG

    def __init__(self, message: str, *, system: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.system = system
        self.detail = detail

    def __str__(self) -> str:
        prefix = f"[{self.system}] " if self.system else ""
        return f"{prefix}{self.args[0]}"


class ConnectorConfigError(ConnectorError):
    action, kind = Action.FAIL, Kind.CONFIG


class TransientError(ConnectorError):
    action, kind = Action.RETRY, Kind.TRANSIENT


class RemoteRefusedError(ConnectorError):
    """The remote side answered and said no, in a way retrying will not change."""

    action, kind = Action.FAIL, Kind.CONFIG


class BadRecordError(ConnectorError):
    action, kind = Action.QUARANTINE, Kind.DATA


class SecurityError(ConnectorError):
    """A response that tried something unsafe (DTD, entities, unknown host key)."""

    action, kind = Action.FAIL, Kind.SECURITY


class WriteConflictError(ConnectorError):
    action, kind = Action.QUARANTINE, Kind.CONFLICT
