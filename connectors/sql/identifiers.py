"""Configured SQL names: checked by pattern first, then against the database itself.

A view or column name comes from config/hub.yaml and ends up inside SQL text, where a
bound parameter cannot go. Two gates keep it harmless: the pattern refuses anything
but a plain identifier before any connection is opened, and reflection refuses a name
the database does not have. Queries are then built from the *reflected* Table, so
SQLAlchemy's compiler quotes every name with the dialect's own IdentifierPreparer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from connectors.errors import ConnectorConfigError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    """Pydantic-friendly check: raises ValueError, so config validation reports it."""
    if not IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain SQL identifier ({IDENTIFIER.pattern})")
    return name


def require_identifiers(names: dict[str, str | None], system: str) -> None:
    """The same check at the connector boundary, for settings built without validation."""
    bad = [f"{key}={value!r}" for key, value in names.items()
           if value is not None and not IDENTIFIER.fullmatch(value)]
    if bad:
        raise ConnectorConfigError(f"not plain SQL identifiers: {', '.join(bad)}", system=system)


def reflect(conn: sa.Connection, name: str, schema: str | None, columns: Iterable[str],
            system: str) -> sa.Table:
    """The table or view's columns as the database describes them; required ones must exist.

    Columns only: indexes and constraints are not needed, and their reflection relies on
    array results that some ODBC drivers return as plain text.
    """
    where = f"{schema}.{name}" if schema else name
    try:
        described = sa.inspect(conn).get_columns(name, schema=schema)
    except sa_exc.NoSuchTableError as e:
        raise ConnectorConfigError(f"table or view {where!r} does not exist", system=system) from e
    if not described:
        raise ConnectorConfigError(f"table or view {where!r} does not exist", system=system)
    table = sa.Table(name, sa.MetaData(), *(sa.Column(c["name"], c["type"]) for c in described),
                     schema=schema)
    missing = sorted(set(columns) - set(table.c.keys()))
    if missing:
        raise ConnectorConfigError(f"{where!r} has no column(s) {missing}", system=system)
    return table
