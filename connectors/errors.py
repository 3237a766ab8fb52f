"""What a connector raises: the core error kinds, named for the connector boundary.

Driver errors (zeep, requests, pyodbc, SQLAlchemy, paramiko) are translated at the
connector boundary with ``raise ... from e``; callers see only these classes, each
carrying the action the failure calls for and what kind of failure it is. All derive
from ``core.errors.CusthubError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core import errors as core
from core.errors import Action, CusthubError, Kind

if TYPE_CHECKING:
    from connectors.classify import Rule

__all__ = ["BY_KIND", "Action", "BadRecordError", "ConnectorConfigError", "ConnectorError",
           "FileRefusedError", "Kind", "RemoteRefusedError", "SecurityError", "TransientError",
           "WriteConflictError"]


class ConnectorError(CusthubError):
    """Root of every error a connector raises. Messages never contain secrets.

    An error made by ``connectors.classify.classify`` carries the table row that matched
    (``rule``): its action (which may differ from the class default, e.g. a refusal that is
    recorded and passed over rather than failing the task) and its ``outcome``. Its kind and
    action come from the core class each subclass also is (a ``TransientError`` here is a
    ``core.errors.TransientError`` too), so callers may catch either."""

    rule: Rule | None = None

    def __init__(self, message: str, *, system: str | None = None, record: str | None = None,
                 detail: str | None = None, rule: Rule | None = None) -> None:
        super().__init__(message, system=system, record=record, detail=detail)
        if rule is not None:
            self.rule, self.action = rule, rule.action

    @property
    def outcome(self) -> str | None:
        """What a registry check records for this failure (None: it stops the step)."""
        return self.rule.outcome if self.rule is not None else None


class ConnectorConfigError(ConnectorError, core.ConfigError):
    """A connection or connector setting that cannot work."""


class TransientError(ConnectorError, core.TransientError):
    """Worth trying again: a timeout, a dropped connection, a busy server."""


class RemoteRefusedError(ConnectorError, core.RefusedError):
    """The remote side answered and said no, in a way retrying will not change."""


class BadRecordError(ConnectorError, core.DataError):
    """One record the remote side gave or refused is bad: quarantine it, go on."""


class SecurityError(ConnectorError, core.SecurityError):
    """A response that tried something unsafe (DTD, entities, unknown host key)."""


class WriteConflictError(ConnectorError):
    action, kind = Action.QUARANTINE, Kind.CONFLICT


# The class a classified error takes, by the kind its row names.
BY_KIND: dict[Kind, type[ConnectorError]] = {
    Kind.CONFIG: ConnectorConfigError, Kind.TRANSIENT: TransientError,
    Kind.DATA: BadRecordError, Kind.SECURITY: SecurityError, Kind.REFUSED: RemoteRefusedError,
    Kind.CONFLICT: WriteConflictError}


class FileRefusedError(ConnectorError):
    """An export file the connector would not take as a whole (garbage, binary, the wrong
    encoding, fewer rows than announced): it went to the error folder with its reason, and
    nothing of it was staged. That system's problem for this run, not the whole run's."""

    action, kind = Action.FAIL, Kind.DATA
