"""Write-back into the accounting system: rows in an import table, or calls of a procedure.

Either way one batch is one transaction, and a write is identified by its idempotency key,
so writing the same batch again changes nothing:

- import table (default): rows whose idempotency key is already there are skipped; the
  table's unique key on ``idempotency_key`` is the last line of defence against a
  concurrent writer (that writer's batch then fails with BadRecordError and is retried).
  The same look-up settles a batch after a crash (``existing_keys``): a key in the table
  was received, whether or not the accounting job has applied it yet.
- ``import_procedure``: ``CALL <procedure>(batch_id, idempotency_key, record_id, values)``
  once per write, ``values`` being a JSON object of the values to set (a missing key means
  "leave unchanged"). The procedure must ignore an idempotency key it has seen (sandbox:
  ``accounting_db.create_import_procedure``). PostgreSQL and MariaDB/MySQL only: SQLite
  has no stored procedures, so a SQLite system must write the import table.
"""

from __future__ import annotations

import io
import json
import re
from contextlib import closing
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from connectors.base import Write, WriteRefusal
from connectors.errors import ConnectorConfigError
from connectors.sql.rows import dbapi_errors

# import-table columns the connector fills itself (or the database does); the rest are values
IMPORT_OWN = frozenset({"id", "batch_id", "idempotency_key", "created_at", "processed_at"})
_PARAMS = 2000  # bound values per multi-row INSERT: under MS SQL's 2,100
_IN_CHUNK = 500  # bound parameters per IN list: far below SQLite's and MS SQL's limits
_PROCEDURE_DIALECTS = frozenset({"postgresql", "mysql", "mariadb"})


def import_rows(table: sa.Table, key_column: str, writes: Sequence[Write],
                batch_id: str) -> tuple[list[dict[str, Any]], list[WriteRefusal]]:
    """Rows for the import table; a write that cannot become one is refused, not raised."""
    own = IMPORT_OWN | {key_column}
    coercers = {c.name: _coercer(c) for c in table.c if c.name not in own}
    empty = dict.fromkeys(coercers)  # every value column, NULL (= leave unchanged) unless set
    rows: dict[str, dict[str, Any]] = {}  # by idempotency key: a repeat in a batch counts once
    refused: list[WriteRefusal] = []
    for w in writes:
        try:
            _check_known(w, coercers)
            row = empty | {name: None if value is None else coercers[name](value)
                           for name, value in w.values.items()}
        except (ValueError, ArithmeticError) as e:
            refused.append(WriteRefusal(w.idempotency_key, str(e)))
            continue
        rows.setdefault(w.idempotency_key, row | {
            "batch_id": batch_id, "idempotency_key": w.idempotency_key, key_column: w.record_id})
    return list(rows.values()), refused


def insert_new(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose idempotency key is not in the table yet; returns how many. On
    psycopg2 with one COPY, elsewhere with the dialect's executemany (multi-row INSERTs
    where SQLAlchemy's insertmanyvalues applies)."""
    done = existing_keys(conn, table, [row["idempotency_key"] for row in rows])
    new = [row for row in rows if row["idempotency_key"] not in done]
    if new and conn.dialect.driver == "psycopg2":
        copy_rows(conn, table, new)
    elif new and conn.dialect.driver == "pyodbc":
        insert_multirow(conn, table, new)
    elif new:  # pysqlite's executemany runs in-process; PyMySQL's is already multi-row
        conn.execute(table.insert(), new)
    return len(new)


def insert_multirow(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """``INSERT ... VALUES (?, ...), (?, ...), ...`` of as many rows as ``_PARAMS`` bound values
    allow, on ``conn``'s own pyodbc cursor: pyodbc's executemany is one round trip per row,
    and SQLAlchemy compiles a multi-row VALUES anew for every statement (0.05-0.5 s each)."""
    quote = conn.dialect.identifier_preparer
    names = list(rows[0])
    per_statement = max(1, _PARAMS // len(names))
    head = f"INSERT INTO {quote.format_table(table)} ({', '.join(map(quote.quote, names))}) VALUES "
    one = "(" + ", ".join("?" * len(names)) + ")"
    with dbapi_errors(conn, head), closing(conn.connection.dbapi_connection.cursor()) as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start:start + per_statement]
            cursor.execute(head + ", ".join([one] * len(chunk)),
                           [row[name] for row in chunk for name in names])


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _copy_field(value: Any) -> str:
    """One value in COPY's text format: \\N for NULL, backslash escapes for the rest."""
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else str(value)
    return _COPY_SPECIAL.sub(lambda m: _COPY_ESCAPES[m.group()], text)


def _copy_line(row: dict[str, Any], tabs: int) -> str:
    """A row as one line of COPY text; joined first and escaped field by field only when the
    line shows a backslash, a line break or a tab of its own (rare in customer data)."""
    line = "\t".join(["\\N" if v is None else v if type(v) is str else str(v)
                      for v in row.values()])
    if "\\" in line or "\n" in line or "\r" in line or line.count("\t") != tabs:
        line = "\t".join([_copy_field(v) for v in row.values()])
    return line + "\n"


def copy_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """``COPY table (columns) FROM STDIN`` on ``conn``'s own psycopg2 connection, so in its
    transaction: the unique idempotency key still refuses a row a concurrent writer added
    (the whole COPY fails, as the INSERT did). Every row has the same keys in the same order
    (``import_rows``)."""
    quote = conn.dialect.identifier_preparer
    names = list(rows[0])
    sql = (f"COPY {quote.format_table(table)} ({', '.join(quote.quote(n) for n in names)}) "
           "FROM STDIN")
    data = io.StringIO("".join(_copy_line(row, len(names) - 1) for row in rows))
    with dbapi_errors(conn, sql), conn.connection.dbapi_connection.cursor() as cursor:
        cursor.copy_expert(sql, data)


def procedure_call(conn: sa.Connection, name: str, schema: str | None,
                   system: str) -> sa.TextClause:
    """The CALL statement for a procedure the database has; its name quoted by the dialect."""
    dialect = conn.dialect.name
    if dialect not in _PROCEDURE_DIALECTS:
        raise ConnectorConfigError(f"import_procedure is not supported on {dialect} (SQLite has "
                                   "no stored procedures); write the import table instead",
                                   system=system)
    if not _procedure_exists(conn, name, schema):
        raise ConnectorConfigError(f"stored procedure {name!r} does not exist", system=system)
    preparer = conn.dialect.identifier_preparer
    qualified = preparer.quote(name) if schema is None \
        else f"{preparer.quote_schema(schema)}.{preparer.quote(name)}"
    return sa.text(f"CALL {qualified}(:batch_id, :idempotency_key, :record_id, :payload)")


def _procedure_exists(conn: sa.Connection, name: str, schema: str | None) -> bool:
    routines = sa.table("routines", sa.column("routine_name"), sa.column("routine_schema"),
                        sa.column("routine_type"), schema="information_schema")
    where = [routines.c.routine_name == name, routines.c.routine_type == "PROCEDURE"]
    # the schema the CALL will resolve the name in, so a namesake elsewhere does not count
    current = sa.func.current_schema() if conn.dialect.name == "postgresql" else sa.func.database()
    where.append(routines.c.routine_schema == (schema if schema is not None else current))
    found = conn.execute(sa.select(sa.func.count()).select_from(routines).where(*where))
    return bool(found.scalar_one())


def procedure_params(writes: Sequence[Write], batch_id: str) -> list[dict[str, Any]]:
    """One parameter set per idempotency key (a repeat within the batch counts once)."""
    params: dict[str, dict[str, Any]] = {}
    for w in writes:
        payload = {k: _json_value(v) for k, v in w.values.items() if v is not None}
        params.setdefault(w.idempotency_key, {
            "batch_id": batch_id, "idempotency_key": w.idempotency_key,
            "record_id": w.record_id, "payload": json.dumps(payload, ensure_ascii=False)})
    return list(params.values())


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, (Decimal, datetime)) else value


def _check_known(write: Write, values: dict[str, Any]) -> None:
    if values.keys() >= write.values.keys():
        return
    unknown = sorted(write.values.keys() - values.keys())
    if unknown:
        raise ValueError(f"the import table has no column(s) {unknown}")


def _as_is(value: Any) -> Any:
    return value


def _coercer(column: sa.Column[Any]) -> Callable[[Any], Any]:
    """For one column: JSON-shaped values (strings for decimals and times) into its Python
    type, strings checked against its length. Worked out once per batch, not per value."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:  # a type SQLAlchemy cannot name: hand the value over as is
        return _as_is
    length = getattr(column.type, "length", None)

    def coerce(value: Any) -> Any:
        if python_type is Decimal and not isinstance(value, Decimal):
            return Decimal(str(value))
        if python_type is int and isinstance(value, str):
            return int(value)
        if python_type is datetime and isinstance(value, str):
            return datetime.fromisoformat(value)
        if isinstance(value, str) and length and len(value) > length:
            raise ValueError(f"{column.name} is longer than {length} characters")
        return value
    return coerce


def existing_keys(conn: sa.Connection, table: sa.Table, keys: list[str]) -> set[str]:
    """The idempotency keys of ``keys`` that the import table holds; on psycopg2 as one
    array parameter (``= ANY``), elsewhere in IN lists of a few hundred."""
    column = table.c.idempotency_key
    if conn.dialect.driver == "psycopg2":
        array = sa.bindparam("keys", keys, type_=postgresql.ARRAY(column.type))
        return set(conn.execute(sa.select(column).where(column == sa.any_(array))).scalars())
    found: set[str] = set()
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start:start + _IN_CHUNK]
        found.update(conn.execute(sa.select(column).where(column.in_(chunk))).scalars())
    return found
