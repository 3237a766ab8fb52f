"""Which connect-string keys an ODBC connection's extras may set, per driver: an allowlist.

A denylist cannot hold: every driver has its own aliases for the keys that matter (MariaDB's
``DB``/``USER``/``PASSWORD``, psqlODBC's ``Servername``/``Username`` and two-letter abbreviations
such as ``A6`` for ``ConnSettings``). Both drivers read connect-string keys case-insensitively, so
the lists are compared in upper case.

What every list leaves out, whatever the spelling:
- where and as whom: server, port, socket, database, user, password (the connection's own fields
  say these; the DSN may too, but an extra must not override them);
- SQL run on connect: MariaDB ``INITSTMT``, psqlODBC ``ConnSettings``, libpq options (``pqopt``
  can set ``options=-c ...``), MariaDB ``OPTIONS`` (a bit mask that turns on multi-statements
  and reading ``my.cnf``);
- code or files: MariaDB ``PLUGIN_DIR``, ``USE_MYCNF``, ``SAVEFILE``, ``TRACE``; psqlODBC
  ``Debug``, ``CommLog``, ``Logdir``; a key password (``TLSKEYPWD``) belongs in a secret store.

The driver is the one the dialect (``sqlalchemy_scheme``) talks to. Keyword names are those of
psqlODBC 16 (dlg_specific.h) and MariaDB Connector/ODBC 3.1 (ma_dsn.c), checked against the
installed drivers by tests/connectors/sql/test_odbc_extras.py; the SQL Server list follows
Microsoft's "DSN and connection string keywords" page and is not exercised here.
"""

from __future__ import annotations

from connectors.errors import ConnectorConfigError

PSQLODBC = frozenset(key.upper() for key in (
    "SSLmode", "ReadOnly", "Fetch", "UseDeclareFetch", "UseServerSidePrepare", "BatchSize",
    "KeepaliveTime", "KeepaliveInterval", "BoolsAsChar", "ByteaAsLongVarBinary",
    "TextAsLongVarchar", "UnknownsAsLongVarchar", "MaxVarcharSize", "MaxLongVarcharSize",
    "UnknownSizes", "LowerCaseIdentifier", "Parse", "FetchRefcursors", "IgnoreTimeout",
    "OptionalErrors", "TrueIsMinus1", "LFConversion", "ShowSystemTables", "RowVersioning",
    "ShowOidColumn", "FakeOidIndex", "UpdatableCursors"))

MARIADB = frozenset({
    "CONN_TIMEOUT", "READ_TIMEOUT", "WRITE_TIMEOUT", "CHARSET", "SSLCA", "SSLCAPATH", "SSLCERT",
    "SSLKEY", "SSLCIPHER", "SSLCRL", "SSLCRLPATH", "SSLVERIFY", "FORCETLS", "TLSVERSION",
    "TLSPEERFP", "TLSPEERFPLIST", "FORWARDONLY", "NO_PROMPT"})

MSSQL = frozenset(key.upper() for key in (
    "Encrypt", "TrustServerCertificate", "HostNameInCertificate", "ApplicationIntent",
    "MultiSubnetFailover", "ConnectRetryCount", "ConnectRetryInterval", "LoginTimeout"))

# sqlalchemy_scheme -> (the driver, as an admin knows it; its allowlist)
_BY_SCHEME = {
    "postgresql+pyodbc": ("psqlODBC", PSQLODBC),
    "mysql+pyodbc": ("MariaDB/MySQL Connector/ODBC", MARIADB),
    "mariadb+pyodbc": ("MariaDB/MySQL Connector/ODBC", MARIADB),
    "mssql+pyodbc": ("Microsoft ODBC Driver for SQL Server", MSSQL),
}


def allowed_keys(sqlalchemy_scheme: str) -> tuple[str, frozenset[str]]:
    """(driver name, upper-cased keys its extras may set) for a dialect's ODBC driver."""
    try:
        return _BY_SCHEME[sqlalchemy_scheme]
    except KeyError:
        raise ConnectorConfigError(f"no ODBC driver known for {sqlalchemy_scheme!r}") from None
