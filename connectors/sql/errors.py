"""The SQL connector's failure table: DBAPI errors (through SQLAlchemy) to actions and kinds.

Read top to bottom, first match wins (``connectors.classify``). Codes that no retry will fix come
first, whatever class the driver chose for them: SQLSTATE classes 28 (credentials), 3D (unknown
database), 42 (missing objects or privileges), IM (the ODBC driver manager: unknown DSN or driver);
the MySQL/MariaDB numbers for the same; SQLite's generic SQLITE_ERROR (no such table or column).
Then the DBAPI class decides. The message is the driver's own first line, never the SQL or the URL.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from connectors.classify import Rule, Rules, classify
from connectors.errors import Action, ConnectorError, Kind

_FAILED = "{doing} failed: {type}: {text}"
_CONFIG_SQLSTATE = ("28", "3D", "42", "IM")
_CONFIG_MYSQL = frozenset({1044, 1045, 1049, 1142, 1146})

RULES: Rules = (
    Rule(Action.FAIL, Kind.CONFIG, _FAILED, exception=sa_exc.DBAPIError,
         sqlstate=_CONFIG_SQLSTATE),
    Rule(Action.FAIL, Kind.CONFIG, _FAILED, exception=sa_exc.DBAPIError, vendor=_CONFIG_MYSQL),
    Rule(Action.FAIL, Kind.CONFIG, _FAILED, exception=sa_exc.DBAPIError, vendor="SQLITE_ERROR"),
    Rule(Action.QUARANTINE, Kind.DATA, _FAILED, exception=sa_exc.IntegrityError),
    Rule(Action.QUARANTINE, Kind.DATA, _FAILED, exception=sa_exc.DataError),
    Rule(Action.RETRY, Kind.TRANSIENT, _FAILED,
         exception=(sa_exc.OperationalError, sa_exc.InterfaceError)),
    Rule(Action.FAIL, Kind.CONFIG, _FAILED, exception=sa_exc.ProgrammingError),
    # InternalError, NotSupportedError and the like: fail, do not guess
    Rule(Action.FAIL, Kind.CONFIG, _FAILED, exception=sa_exc.DBAPIError),
    # not the driver: a dialect, URL or statement of ours
    Rule(Action.FAIL, Kind.CONFIG, _FAILED, exception=sa_exc.SQLAlchemyError),
)


def translate(e: sa_exc.SQLAlchemyError, doing: str, system: str) -> ConnectorError:
    return classify(e, RULES, system=system, doing=doing)
