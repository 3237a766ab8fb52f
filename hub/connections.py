"""Secrets come from Airflow connections; config and code hold only conn ids.

Airflow resolves a conn id from its secrets backends (``AIRFLOW_CONN_<ID>`` environment
variables first, then its metadata database or a vault), in a task or outside one, so the
CLI and the DAGs reach the same systems with the same credentials.

The connection is read from those backends directly, in Airflow's order, not through
``BaseHook.get_connection``: that one (and ``Connection.extra_dejson``) hands every password and
extra to ``airflow.sdk.log.mask_secret``, which sends them to the task supervisor as a
``MaskSecret`` message, and under ``airflow dags test`` the in-process supervisor logs each such
message verbatim at DEBUG: the password, the private key and its passphrase in clear. So the
values are registered with this process's secrets masker only (which redacts this process's log
lines, the task's own under Airflow), and nothing carries them to anyone else.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import SecretStr

from core.connections import ConnectionInfo
from core.errors import ConfigError

log = logging.getLogger(__name__)


class ConnectionUndefined(ConfigError):
    """No connection by that id in any of Airflow's places (environment, secrets backend, database)."""


def get_connection(conn_id: str) -> ConnectionInfo:
    """The connection behind ``conn_id``; an undefined one is a ConfigError that says how to define it."""
    conn = _from_backends(conn_id)
    if conn is None:
        raise ConnectionUndefined(f"Airflow connection {conn_id!r} is not defined: create it in "
                                  f"Airflow or set the environment variable AIRFLOW_CONN_{conn_id.upper()}")
    info = ConnectionInfo(
        conn_id=conn_id,
        conn_type=conn.conn_type,
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=SecretStr(conn.password or ""),
        schema=conn.schema,
        extra=_extra(conn_id, conn.extra),
    )
    _mask_here(info)
    return info


def _from_backends(conn_id: str) -> Any:
    """Airflow's backends for this context (task, server or neither), first answer wins."""
    from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded

    for backend in ensure_secrets_backend_loaded():
        try:
            conn = backend.get_connection(conn_id=conn_id)
        except PermissionError:  # an authoritative "no": never fall through to another backend
            raise
        except Exception:  # noqa: BLE001 - as Airflow's own lookup: a backend down, try the next
            log.debug("secrets backend %s could not answer for %s", type(backend).__name__,
                      conn_id)
            continue
        if conn is not None:
            return conn
    return None


def _extra(conn_id: str, raw: str | dict[str, Any] | None) -> dict[str, Any]:
    if not raw:
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        extra = json.loads(raw)
    except json.JSONDecodeError:  # the text may hold a secret: say where, not what
        raise ConfigError(f"Airflow connection {conn_id!r}: extra is not valid JSON") from None
    if not isinstance(extra, dict):
        raise ConfigError(f"Airflow connection {conn_id!r}: extra must be a JSON object")
    return extra


def _mask_here(info: ConnectionInfo) -> None:
    """Register the secrets with this process's masker only (see the module docstring)."""
    from airflow.sdk._shared.secrets_masker import mask_secret  # local: sends nothing

    password = info.password.get_secret_value()
    for value in (password, *password.splitlines()):
        mask_secret(value)
    for key, value in info.extra.items():
        mask_secret(value, key)  # masked when the key names a secret (password, private_key…)
        if isinstance(value, str) and "\n" in value:  # a PEM key, logged line by line or escaped
            for line in value.splitlines():
                mask_secret(line, key)
