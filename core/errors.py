"""The one exception root of custhub, and its structured attributes.

Every error custhub raises on purpose derives from ``CusthubError``: connector, mapping,
configuration, store and pipeline errors alike. Each carries

- ``kind``: what sort of failure (config, transient, data, security, refused, conflict);
- ``action``: what the caller should do (retry, fail, quarantine, refuse);
- ``system`` and ``record``: where it happened, when known.

Driver errors (zeep, requests, SQLAlchemy, pyodbc, paramiko) are translated at the boundary
with ``raise ... from e``. Messages never contain secrets. The CLI catches the root once and
prints ``one_line()`` (docs/adr/0002-exception-root.md).
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    RETRY = "retry"  # transient: try again with backoff
    FAIL = "fail"  # stop the task: configuration, or a server that says no to everything
    QUARANTINE = "quarantine"  # this record is bad; keep it aside and go on
    REFUSE = "refuse"  # the remote side refused this one request; record it and go on


class Kind(StrEnum):
    CONFIG = "config"
    TRANSIENT = "transient"
    DATA = "data"
    SECURITY = "security"
    REFUSED = "refused"
    CONFLICT = "conflict"


class CusthubError(Exception):
    """Root of every error custhub raises on purpose."""

    kind: Kind = Kind.CONFIG
    action: Action = Action.FAIL

    def __init__(self, message: str, *, system: str | None = None, record: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.system = system
        self.record = record
        self.detail = detail

    def __str__(self) -> str:
        prefix = f"[{self.system}] " if self.system else ""
        return f"{prefix}{self.args[0]}"

    def one_line(self) -> str:
        """The message as a person reads it in a terminal: its first line, the rest counted."""
        lines = str(self).splitlines() or [self.__class__.__name__]
        more = f" (+{len(lines) - 1} more line(s), --debug shows all)" if len(lines) > 1 else ""
        return lines[0] + more


class ConfigError(CusthubError):
    """The configuration is wrong; the message names the file and every bad key."""

    kind, action = Kind.CONFIG, Action.FAIL


class TransientError(CusthubError):
    kind, action = Kind.TRANSIENT, Action.RETRY


class DataError(CusthubError):
    """One record or value is bad: quarantine it, go on with the rest."""

    kind, action = Kind.DATA, Action.QUARANTINE


class SecurityError(CusthubError):
    """Something unsafe was offered (DTD, entities, an unknown host key)."""

    kind, action = Kind.SECURITY, Action.FAIL


class RefusedError(CusthubError):
    """The remote side answered and said no, in a way retrying will not change."""

    kind, action = Kind.REFUSED, Action.FAIL


class StoreError(CusthubError):
    """The hub store cannot be opened or used (its URL, its server, its schema)."""

    kind, action = Kind.CONFIG, Action.FAIL


class RunFailed(CusthubError):
    """A run stopped on purpose (too many quarantined records, a guard)."""

    kind, action = Kind.DATA, Action.FAIL
