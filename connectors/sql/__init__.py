"""SQL databases (accounting): a customer view read by watermark, an import table written.

Reached through SQLAlchemy with the native drivers (SQLite, psycopg2, PyMySQL) or pyodbc
through an ODBC DSN or driver; see ``connectors.sql.urls`` for the connection fields read.
Its cursor is ``connectors.cursor.Cursor``.
"""

from connectors.sql.view import SqlViewConnector, SqlViewSettings

__all__ = ["SqlViewConnector", "SqlViewSettings"]
