"""How a system is reached, as resolved from an Airflow connection: secrets masked.

Resolving a conn id needs Airflow and lives in hub/connections.py; connectors receive the
resolved ``ConnectionInfo`` and never look it up themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr


@dataclass(frozen=True)
class ConnectionInfo:
    conn_id: str
    conn_type: str | None
    host: str | None
    port: int | None
    login: str | None
    password: SecretStr = field(repr=False)
    schema: str | None
    extra: dict[str, Any]

    def __repr__(self) -> str:  # never print a secret, even by accident
        return f"ConnectionInfo(conn_id={self.conn_id!r}, host={self.host!r}, port={self.port!r})"
