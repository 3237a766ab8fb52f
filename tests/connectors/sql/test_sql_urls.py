"""Connection fields -> URL and ODBC connect string; settings; error translation (no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr, ValidationError

from connectors.errors import BadRecordError, ConnectorConfigError, TransientError
from connectors.sql import SqlViewSettings
from connectors.sql.urls import build_url, make_engine, odbc_connect_string, odbc_value
from connectors.sql.view import translate
from core.connections import ConnectionInfo

SECRET = "p;w}d={x}"


def conn(conn_type: str = "odbc", password: str = SECRET, **fields: Any) -> ConnectionInfo:
    base: dict[str, Any] = {"host": "db.example", "port": 5432, "login": "hub", "schema": "acc",
                            "extra": {"driver": "PostgreSQL Unicode",
                                      "sqlalchemy_scheme": "postgresql+pyodbc"}}
    return ConnectionInfo(conn_id="accounting", conn_type=conn_type,
                          password=SecretStr(password), **(base | fields))


def parse_odbc(text: str) -> list[tuple[str, str]]:
    """The ODBC grammar: KEY=value or KEY={value with '}}' for '}'}, separated by ';'."""
    pairs, i = [], 0
    while i < len(text):
        eq = text.index("=", i)
        key, i = text[i:eq], eq + 1
        if text.startswith("{", i):
            value, i = [], i + 1
            while not (text[i] == "}" and not text.startswith("}}", i)):
                value.append(text[i])
                i += 2 if text.startswith("}}", i) else 1
            i += 1
        else:
            end = text.find(";", i)
            end = len(text) if end < 0 else end
            value, i = list(text[i:end]), end
        pairs.append((key, "".join(value)))
        assert i == len(text) or text[i] == ";"
        i += 1
    return pairs


def test_a_password_with_semicolon_and_brace_is_braced_with_the_brace_doubled() -> None:
    text = odbc_connect_string(conn())
    assert text.endswith("PWD={p;w}}d={x}}}")
    assert dict(parse_odbc(text))["PWD"] == SECRET


def test_a_password_cannot_smuggle_in_attributes() -> None:
    text = odbc_connect_string(conn(password="x};DRIVER={/tmp/evil.so};PWD={y"))
    pairs = parse_odbc(text)
    assert [key for key, _ in pairs].count("DRIVER") == 1
    assert dict(pairs)["DRIVER"] == "PostgreSQL Unicode"


def test_the_connect_string_reads_the_connection_fields() -> None:
    assert parse_odbc(odbc_connect_string(conn())) == [
        ("DRIVER", "PostgreSQL Unicode"), ("SERVER", "db.example"), ("PORT", "5432"),
        ("DATABASE", "acc"), ("UID", "hub"), ("UseServerSidePrepare", "0"),
        ("UseDeclareFetch", "1"), ("Fetch", "1000"), ("PWD", SECRET)]


def test_a_dsn_connection_names_the_dsn_and_only_set_fields() -> None:
    info = conn(host=None, port=None, schema=None, password="",
                extra={"dsn": "custhub accounting", "sqlalchemy_scheme": "mssql+pyodbc",
                       "Encrypt": "yes", "TrustServerCertificate": True})
    assert odbc_connect_string(info) == (
        "DSN=custhub accounting;UID=hub;Encrypt=yes;TrustServerCertificate=yes")


@pytest.mark.parametrize("key", ["DRIVER", "Dsn", "server", "Servername", "UID", "pwd",
                                 "Database", "FILEDSN", "Encrypt;DRIVER", "a=b"])
def test_extras_cannot_set_reserved_or_odd_attributes(key: str) -> None:
    info = conn(extra={"driver": "PostgreSQL Unicode", key: "evil"})
    with pytest.raises(ConnectorConfigError, match="may not set"):
        odbc_connect_string(info)


@pytest.mark.parametrize("extra", [
    {"driver": "/tmp/libevil.so"},
    {"driver": "PostgreSQL Unicode", "dsn": "custhub"},
    {},
    {"dsn": "custhub;DRIVER=x"},
    {"driver": "PostgreSQL Unicode", "sqlalchemy_scheme": "oracle+cx_oracle"},
])
def test_an_odbc_connection_needs_one_plain_dsn_or_driver_name(extra: dict[str, Any]) -> None:
    with pytest.raises(ConnectorConfigError):
        odbc_connect_string(conn(extra=extra))


def test_values_are_braced_only_when_they_need_it() -> None:
    # psqlODBC keeps braces literally outside PWD: "{hub}" would be a different user
    assert odbc_value("hub") == "hub" and odbc_value("a b") == "a b"
    assert odbc_value(" x") == "{ x}" and odbc_value("a}b") == "{a}}b}"


def test_no_password_in_the_odbc_url_or_the_engine_repr() -> None:
    url = build_url(conn())
    assert url.drivername == "postgresql+pyodbc"
    assert "PWD" not in url.render_as_string(hide_password=False)
    engine = make_engine(conn())  # lazy: no connection is made
    assert SECRET not in repr(engine) and SECRET not in str(engine.url)


def test_native_urls_keep_the_password_masked() -> None:
    url = build_url(conn("postgres", password="s3cret", extra={}))
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg2", "db.example", 5432, "acc")
    assert url.password == "s3cret" and "s3cret" not in str(url)
    assert build_url(conn("mariadb", extra={})).drivername == "mariadb+pymysql"
    assert build_url(conn("mysql", extra={})).drivername == "mysql+pymysql"


def test_postgres_ssl_extras_are_typed() -> None:
    with pytest.raises(ConnectorConfigError, match="sslmode"):
        make_engine(conn("postgres", extra={"sslmode": "maybe"}))
    make_engine(conn("postgres", extra={"sslmode": "verify-full", "cursor": "dictcursor"}))


def test_sqlite_takes_the_path_from_host_or_schema() -> None:
    assert build_url(conn("sqlite", host="/data/acc.db")).database == "/data/acc.db"
    assert build_url(conn("sqlite", host=None, schema="acc.db")).database == "acc.db"
    with pytest.raises(ConnectorConfigError, match="path"):
        build_url(conn("sqlite", host=None, schema=None))


def test_an_unknown_conn_type_is_a_config_error() -> None:
    with pytest.raises(ConnectorConfigError, match="unsupported conn_type"):
        build_url(conn("http"))


@pytest.mark.parametrize("field", ["view", "schema_name", "key_column", "watermark_column",
                                   "import_table"])
def test_settings_refuse_identifiers_that_are_not_plain(field: str) -> None:
    for bad in ("v_customers; DROP TABLE customers", 'a"b', "1abc", "x" * 64, ""):
        with pytest.raises(ValidationError):
            SqlViewSettings(**{field: bad})  # type: ignore[arg-type]


def test_settings_forbid_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        SqlViewSettings(veiw="v_customers")  # type: ignore[call-arg]


def test_real_driver_errors_are_translated(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    holder = sa.create_engine(f"sqlite:///{path}")
    waiter = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with holder.begin() as c:
        c.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY)")
        c.exec_driver_sql("INSERT INTO t VALUES ('a')")
    assert isinstance(_error(holder, "INSERT INTO t VALUES ('a')"), BadRecordError)
    assert isinstance(_error(holder, "SELECT * FROM missing"), ConnectorConfigError)
    with holder.connect() as c:
        c.exec_driver_sql("BEGIN EXCLUSIVE")
        assert isinstance(_error(waiter, "SELECT * FROM t"), TransientError)
        c.rollback()


def _error(engine: sa.Engine, sql: str) -> Exception:
    try:
        with engine.begin() as c:
            c.exec_driver_sql(sql)
    except sa.exc.DBAPIError as e:
        translated = translate(e, "testing", "accounting")
        assert str(translated).startswith("[accounting] testing failed:")
        return translated
    raise AssertionError(f"{sql} did not fail")
