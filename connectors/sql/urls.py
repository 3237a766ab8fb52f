"""An Airflow connection (ConnectionInfo) -> a SQLAlchemy URL and Engine.

Fields read, by ``conn_type``:
- ``sqlite``: ``host`` (or ``schema``) is the database file path.
- ``postgres``/``postgresql`` (psycopg2), ``mysql``/``mariadb`` (PyMySQL): host, port,
  login, password, schema (= database); extras ``sslmode``, ``sslrootcert``, ``sslcert``,
  ``sslkey`` (PostgreSQL) or ``ssl_ca``, ``ssl_cert``, ``ssl_key``, ``ssl_verify_cert`` (MySQL).
- ``odbc`` (pyodbc): extra ``dsn`` *or* extra ``driver`` (a driver name registered in
  odbcinst.ini) with host, port, schema (= DATABASE); login (UID), password (PWD); extra
  ``sqlalchemy_scheme`` (default ``mssql+pyodbc``, as Airflow's OdbcHook); any other extra is
  passed on as a connect-string attribute if the driver's allowlist has it (connectors.sql.
  odbc_keys): never a key, or a driver's alias of one, that picks the server, database or user,
  runs SQL on connect, loads code or writes files.

Passwords never enter URL text that could be printed: native URLs keep it in ``URL.password``
(masked by ``str(url)``); the ODBC password is added to the connect string only at connect
time, by a ``do_connect`` listener, so ``repr(engine)`` shows no ``PWD``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.connectors.pyodbc import PyODBCConnector
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql.base import PGDialect

from connectors.errors import ConnectorConfigError
from connectors.sql.odbc_keys import allowed_keys
from core.connections import ConnectionInfo

NATIVE_SCHEMES = {
    "sqlite": "sqlite+pysqlite",
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
# the keyword each DBAPI takes for its connect (or busy) timeout, in seconds
_TIMEOUT_ARG = {"pysqlite": "timeout", "psycopg2": "connect_timeout", "pymysql": "connect_timeout",
                "pyodbc": "timeout"}
# the ODBC spec's characters that force a value into braces, plus edge spaces
_NEEDS_BRACES = re.compile(r"[\[\]{}(),;?*=!@]|^\s|\s$")
_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# connect-string attributes a dialect needs whatever the DSN says (extras may still set them):
# psqlODBC's server-side prepare cannot type the untyped parameters of PostgreSQL reflection;
# and without UseDeclareFetch it pulls a whole result into client memory before the first row
# (with it: DECLARE CURSOR, then FETCH <Fetch> rows at a time).
_DIALECT_DEFAULTS = {"postgresql+pyodbc": {"UseServerSidePrepare": "0", "UseDeclareFetch": "1",
                                           "Fetch": "1000"}}


class PGDialect_pyodbc(PyODBCConnector, PGDialect):  # noqa: N801 - SQLAlchemy's naming
    """PostgreSQL through psqlODBC: SQLAlchemy ships no such dialect; this is all it takes."""

    supports_statement_cache = True

    def _get_server_version_info(self, connection: sa.Connection) -> tuple[int, ...]:
        return PGDialect._get_server_version_info(self, connection)  # SQL, not SQL_DBMS_VER


registry.register("postgresql.pyodbc", __name__, "PGDialect_pyodbc")


class _PostgresExtras(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Airflow keeps its own keys in the same extras
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca",
                     "verify-full"] | None = None
    sslrootcert: str | None = None
    sslcert: str | None = None
    sslkey: str | None = None


class _MysqlExtras(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_verify_cert: bool | None = None


class OdbcExtras(BaseModel):
    """Known keys are typed; the rest become connect-string attributes, each of which must be on
    the allowlist of the driver behind ``sqlalchemy_scheme`` (``connectors.sql.odbc_keys``)."""

    model_config = ConfigDict(extra="allow")
    dsn: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*$")
    # a registered driver name, never a path: loading a chosen shared library runs its code
    driver: str | None = Field(None, pattern=r"^[^/\\{}\[\];=]{1,128}$")
    sqlalchemy_scheme: Literal["mssql+pyodbc", "postgresql+pyodbc", "mysql+pyodbc",
                               "mariadb+pyodbc"] = "mssql+pyodbc"

    def attributes(self) -> dict[str, str]:
        attrs = {key: _scalar(key, value) for key, value in (self.model_extra or {}).items()}
        driver, allowed = allowed_keys(self.sqlalchemy_scheme)
        bad = sorted(k for k in attrs if k.upper() not in allowed or not _ATTRIBUTE.fullmatch(k))
        if bad:  # keys only: a value may be a secret
            raise ConnectorConfigError(f"ODBC extras may not set {bad} for {driver}; allowed: "
                                       f"{', '.join(sorted(allowed))}")
        return attrs


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (str, int)):
        return str(value)
    raise ConnectorConfigError(f"ODBC extra {key!r} must be a string, number or boolean")


def _parse(model: type[BaseModel], extra: dict[str, Any]) -> Any:
    try:
        return model.model_validate(extra)
    except ValidationError as e:  # listed without input values: an extra may hold a secret
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
                             for err in e.errors())
        raise ConnectorConfigError(f"invalid connection extras: {problems}") from None


def odbc_value(value: str) -> str:
    """An attribute value as ODBC wants it: braced, '}' doubled, when it holds a special.

    Braces only when needed: psqlODBC strips them from PWD but keeps them literally in
    UID, SERVER or DSN, so bracing every value would break ordinary names.
    """
    if _NEEDS_BRACES.search(value):
        return "{" + value.replace("}", "}}") + "}"
    return value


def odbc_connect_string(conn: ConnectionInfo, *, with_password: bool = True) -> str:
    extras = _parse(OdbcExtras, conn.extra)
    if bool(extras.dsn) == bool(extras.driver):
        raise ConnectorConfigError("an ODBC connection needs exactly one of extras 'dsn', 'driver'")
    parts = [f"DSN={odbc_value(extras.dsn)}" if extras.dsn
             else "DRIVER={" + extras.driver.replace("}", "}}") + "}"]
    for key, value in (("SERVER", conn.host), ("PORT", conn.port), ("DATABASE", conn.schema),
                       ("UID", conn.login)):
        if value not in (None, ""):
            parts.append(f"{key}={odbc_value(str(value))}")
    attrs = _DIALECT_DEFAULTS.get(extras.sqlalchemy_scheme, {}) | extras.attributes()
    parts += [f"{key}={odbc_value(value)}" for key, value in attrs.items()]
    password = conn.password.get_secret_value()
    if with_password and password:
        parts.append(f"PWD={odbc_value(password)}")
    return ";".join(parts)


def build_url(conn: ConnectionInfo) -> sa.URL:
    """The URL for ``conn``; for ODBC its connect string without PWD (see make_engine)."""
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "odbc":
        scheme = _parse(OdbcExtras, conn.extra).sqlalchemy_scheme
        query = {"odbc_connect": odbc_connect_string(conn, with_password=False)}
        return sa.URL.create(scheme, query=query)
    if conn_type not in NATIVE_SCHEMES:
        raise ConnectorConfigError(f"unsupported conn_type {conn.conn_type!r} for a SQL connector")
    if conn_type == "sqlite":
        path = conn.host or conn.schema
        if not path:
            raise ConnectorConfigError("a sqlite connection needs the file path in host")
        return sa.URL.create(NATIVE_SCHEMES[conn_type], database=path)
    return sa.URL.create(NATIVE_SCHEMES[conn_type], username=conn.login,
                         password=conn.password.get_secret_value() or None,
                         host=conn.host, port=conn.port, database=conn.schema)


def _connect_args(conn: ConnectionInfo, url: sa.URL, connect_timeout: int) -> dict[str, Any]:
    args: dict[str, Any] = {_TIMEOUT_ARG[url.get_driver_name()]: connect_timeout}
    backend = url.get_backend_name()
    if url.get_driver_name() == "psycopg2":
        args |= _parse(_PostgresExtras, conn.extra).model_dump(exclude_none=True)
    elif backend in ("mysql", "mariadb") and url.get_driver_name() == "pymysql":
        args |= _parse(_MysqlExtras, conn.extra).model_dump(exclude_none=True)
    return args


def make_engine(conn: ConnectionInfo, *, connect_timeout: int = 10) -> sa.Engine:
    url = build_url(conn)
    engine = sa.create_engine(url, connect_args=_connect_args(conn, url, connect_timeout),
                              pool_pre_ping=True, hide_parameters=True)
    if url.get_driver_name() == "pyodbc" and conn.password.get_secret_value():
        secret = odbc_value(conn.password.get_secret_value())

        @sa.event.listens_for(engine, "do_connect")
        def _add_password(dialect: Any, rec: Any, cargs: list[Any], cparams: Any) -> None:
            cargs[0] = f"{cargs[0]};PWD={secret}"  # only here, at connect time

    return engine
