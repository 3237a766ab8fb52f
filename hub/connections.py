"""Secrets come from Airflow connections; config and code hold only conn ids.

Airflow resolves a conn id from its secrets backends (``AIRFLOW_CONN_<ID>`` environment
variables first, then its metadata database or a vault), in a task or outside one, so the
CLI and the DAGs reach the same systems with the same credentials.
"""

from __future__ import annotations

from pydantic import SecretStr

from core.connections import ConnectionInfo
from core.errors import ConfigError


def get_connection(conn_id: str) -> ConnectionInfo:
    """The connection behind ``conn_id``; an undefined one is a ConfigError that says how to define it."""
    from airflow.sdk import BaseHook  # heavy import, kept out of module import time
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(f"Airflow connection {conn_id!r} is not defined: create it in Airflow "
                          f"or set the environment variable AIRFLOW_CONN_{conn_id.upper()}") from None
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=conn.conn_type,
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=SecretStr(conn.password or ""),
        schema=conn.schema,
        extra=conn.extra_dejson or {},
    )
