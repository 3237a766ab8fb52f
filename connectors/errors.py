"""What a connector raises: the core error kinds, named for the connector boundary.

Driver errors (zeep, requests, pyodbc, SQLAlchemy, paramiko) are translated at the
connector boundary with ``raise ... from e``; callers see only these classes, each
carrying the action the failure calls for and what kind of failure it is. All derive
from ``core.errors.CusthubError``.
"""

from __future__ import annotations

from core.errors import Action, CusthubError, Kind

__all__ = ["Action", "BadRecordError", "ConnectorConfigError", "ConnectorError", "Kind",
           "RemoteRefusedError", "SecurityError", "TransientError", "WriteConflictError"]


class ConnectorError(CusthubError):
    """Root of every error a connector raises. Messages never contain secrets."""

    action: Action = Action.FAIL
    kind: Kind = Kind.CONFIG


class ConnectorConfigError(ConnectorError):
    action, kind = Action.FAIL, Kind.CONFIG


class TransientError(ConnectorError):
    action, kind = Action.RETRY, Kind.TRANSIENT


class RemoteRefusedError(ConnectorError):
    """The remote side answered and said no, in a way retrying will not change."""

    action, kind = Action.FAIL, Kind.REFUSED


class BadRecordError(ConnectorError):
    action, kind = Action.QUARANTINE, Kind.DATA


class SecurityError(ConnectorError):
    """A response that tried something unsafe (DTD, entities, unknown host key)."""

    action, kind = Action.FAIL, Kind.SECURITY


class WriteConflictError(ConnectorError):
    action, kind = Action.QUARANTINE, Kind.CONFLICT
