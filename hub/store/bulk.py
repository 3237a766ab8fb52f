"""Many rows into one table of the hub store, inside the caller's transaction.

On PostgreSQL (psycopg2) the rows go through ``COPY … FROM STDIN`` on the connection of the
caller's transaction, streamed: the protocol's bulk path, several times faster than any
INSERT. Elsewhere (SQLite) they go as SQLAlchemy executemany inserts, in chunks. Either way a
rollback undoes them: dry runs and held runs rely on that.

The COPY text format is written here rather than through the csv module because CSV cannot
tell an empty string from NULL without quoting every value (``QUOTE_NOTNULL`` is Python 3.12).
Values are written as the column type reads them: JSON through the engine's JSON serializer
(as SQLAlchemy would bind it: None becomes JSON ``null`` unless the type says otherwise),
booleans as ``t``/``f``, instants in ISO 8601 with their offset; backslash, tab, newline and
carriage return are escaped, NULL is ``\\N``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from contextlib import contextmanager
from itertools import chain, islice
from operator import itemgetter
from typing import Any

from sqlalchemy import (JSON, Boolean, Column, Connection, Date, DateTime, MetaData, String, Table,
                        bindparam, insert, update)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

CHUNK = 10_000  # rows per executemany (SQLite) and per buffer handed to COPY
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_NULL = "\\N"
_KEY = "bulk_key"  # the bound name of the key column in an executemany UPDATE

Row = Mapping[str, Any]
Converter = Callable[[Any], str]


def bulk_insert(target: Session | Connection, table: Table, rows: Iterable[Row],
                chunk: int = CHUNK) -> int:
    """Insert ``rows`` (dicts keyed by column name, each with the first row's keys) into
    ``table`` in ``target``'s transaction; returns how many. Columns the rows leave out get
    their scalar default, or the database's (an autoincrement id)."""
    connection = _connection(target)
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    _check_columns(table, list(first))
    rows = chain([first], rows)
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg2":
        return _copy(connection, table, list(first), rows, chunk)
    return _executemany(connection, table, rows, chunk)


@contextmanager
def temporary_keys(target: Session | Connection, name: str, columns: Mapping[str, int],
                   rows: Iterable[Row]) -> Iterator[Table]:
    """A temporary table ``name`` of text ``columns`` (name -> length, together its primary key)
    holding ``rows``, in ``target``'s transaction, dropped on leaving: a set of keys to join on,
    one statement however many keys (IN lists cost a query each 500 keys)."""
    connection = _connection(target)
    table = Table(name, MetaData(), *[Column(c, String(n), primary_key=True) for c, n in columns.items()],
                  prefixes=["TEMPORARY"])
    _check_identifiers([name])
    quoted = connection.dialect.identifier_preparer.format_table(table)
    # One left by a failed run on this (pooled) connection: SQLite's driver runs DDL outside
    # the transaction when no write opened one yet, so a rollback may not have taken it.
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quoted}")
    table.create(connection)
    bulk_insert(connection, table, rows)
    if connection.dialect.name == "postgresql":  # its size known, the planner joins it well
        connection.exec_driver_sql(f"ANALYZE {quoted}")
    yield table
    # Not on an error: a DROP in a failed PostgreSQL transaction would hide the error that failed
    # it (the rollback takes the table there); the next use drops what is left.
    table.drop(connection)


def bulk_update(target: Session | Connection, table: Table, key: str, rows: Iterable[Row],
                chunk: int = CHUNK) -> int:
    """Set, in each row of ``table`` whose ``key`` column equals a row's ``key`` value, the
    other columns of that row (every row has the first row's keys); returns how many rows
    were given. On PostgreSQL the rows are copied into a temporary table and applied by one
    ``UPDATE … FROM``; elsewhere, an executemany UPDATE."""
    connection = _connection(target)
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    names = [name for name in first if name != key]
    _check_columns(table, [key, *names])
    rows = chain([first], rows)
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg2":
        return _update_from(connection, table, key, names, rows, chunk)
    statement = (update(table).where(table.c[key] == bindparam(_KEY))
                 .values({name: bindparam(name) for name in names}))
    count = 0
    while batch := [{**row, _KEY: row[key]} for row in islice(rows, chunk)]:
        connection.execute(statement, batch)
        count += len(batch)
    return count


def _update_from(connection: Connection, table: Table, key: str, names: list[str],
                 rows: Iterator[Row], chunk: int) -> int:
    preparer = connection.dialect.identifier_preparer
    staged = Table(f"bulk_{table.name}", MetaData(), *[Column(c.name, c.type) for c in
                                                      (table.c[n] for n in [key, *names])])
    _check_identifiers([table.name, staged.name, key, *names])
    target, source = preparer.format_table(table), preparer.format_table(staged)
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {source} ON COMMIT DROP AS "
                               f"SELECT {', '.join(preparer.quote(c.name) for c in staged.c)} "
                               f"FROM {target} WITH NO DATA")
    count = _copy(connection, staged, [key, *names], rows, chunk)
    # Its size known, the planner looks the rows up by index instead of scanning the table.
    connection.exec_driver_sql(f"ANALYZE {source}")
    assignments = ", ".join(f"{preparer.quote(n)} = s.{preparer.quote(n)}" for n in names)
    connection.exec_driver_sql(f"UPDATE {target} AS t SET {assignments} FROM {source} AS s "
                               f"WHERE t.{preparer.quote(key)} = s.{preparer.quote(key)}")
    connection.exec_driver_sql(f"DROP TABLE {source}")  # the name is free for the next update
    return count


def _connection(target: Session | Connection) -> Connection:
    if isinstance(target, Session):
        target.flush()  # what the session holds goes first, as it would with ORM inserts
        return target.connection()
    return target


def _executemany(connection: Connection, table: Table, rows: Iterator[Row], chunk: int) -> int:
    first = next(rows)
    rows = chain([first], rows)
    if connection.dialect.name == "sqlite":
        return _sqlite_executemany(connection, table, list(first), rows, chunk)
    return _executemany_core(connection, table, rows, chunk)


def _sqlite_executemany(connection: Connection, table: Table, names: list[str], rows: Iterator[Row],
                        chunk: int) -> int:
    """The rows as tuples straight to the driver's executemany, each value through its column
    type's bind processor (what SQLAlchemy would bind): SQLAlchemy's per-row parameter building
    was most of the time of a large insert. Scalar defaults of the columns left out are bound
    as constants, as SQLAlchemy would."""
    given = [table.c[name] for name in names]
    defaulted = [c for c in table.c if c.name not in names and c.default is not None]
    if any(not c.default.is_scalar for c in defaulted):  # type: ignore[union-attr]
        return _executemany_core(connection, table, rows, chunk)
    _check_identifiers([table.name, *(c.name for c in [*given, *defaulted])])
    quote = connection.dialect.identifier_preparer
    columns = [*given, *defaulted]
    sql = (f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c.name) for c in columns)}) "
           f"VALUES ({', '.join('?' * len(columns))})")
    processors = [c.type._cached_bind_processor(connection.dialect) for c in given]
    constants = [_bound(c, c.default.arg, connection.dialect) for c in defaulted]  # type: ignore[union-attr]
    instants = [isinstance(c.type, DateTime | Date) for c in given]
    count = 0
    raw = connection.connection.dbapi_connection
    while batch := list(islice(rows, chunk)):
        # Column by column (a map per column is several times faster than a tuple per row);
        # an instant is formatted once per distinct value (a run writes one "now" per table).
        bound = []
        for name, process, instant in zip(names, processors, instants, strict=True):
            column = [row[name] for row in batch]
            if process is not None:
                memo = {v: process(v) for v in set(column)} if instant else None
                column = [memo[v] for v in column] if memo is not None else list(map(process, column))
            bound.append(column)
        bound += [[value] * len(batch) for value in constants]
        raw.executemany(sql, list(zip(*bound)))  # type: ignore[union-attr]
        count += len(batch)
    return count


def _bound(column: Column[Any], value: Any, dialect: Dialect) -> Any:
    process = column.type._cached_bind_processor(dialect)
    return value if process is None else process(value)


def _executemany_core(connection: Connection, table: Table, rows: Iterator[Row], chunk: int) -> int:
    count, statement = 0, insert(table)
    while batch := list(islice(rows, chunk)):
        connection.execute(statement, batch)
        count += len(batch)
    return count


def _copy(connection: Connection, table: Table, names: list[str], rows: Iterator[Row],
          chunk: int) -> int:
    given = [table.c[name] for name in names]
    defaulted = [c for c in table.c if c.name not in names and c.default is not None]
    statement = _copy_statement(connection.dialect, table, given + defaulted)
    source = _CopySource(map(_line_writer(connection.dialect, given, defaulted), rows), chunk)
    raw = connection.connection.dbapi_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        cursor.copy_expert(statement, source)
    return source.count


def _check_columns(table: Table, names: list[str]) -> None:
    unknown = sorted(set(names) - set(table.c.keys()))
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {unknown}")


def _check_identifiers(names: list[str]) -> None:
    for name in names:
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"not an SQL identifier: {name!r}")


def _copy_statement(dialect: Dialect, table: Table, columns: list[Column[Any]]) -> str:
    schema = [table.schema] if table.schema else []
    _check_identifiers([table.name, *(c.name for c in columns), *schema])
    quote = dialect.identifier_preparer
    names = ", ".join(quote.quote(c.name) for c in columns)
    return (f"COPY {quote.format_table(table)} ({names}) FROM STDIN "
            "WITH (FORMAT text, ENCODING 'UTF8')")


class _CopySource:
    """A file-like ``read`` for ``copy_expert``: ``chunk`` lines a call (psycopg2 sends what
    ``read`` returns and asks again until it gets nothing), so the rows stream."""

    def __init__(self, lines: Iterator[str], chunk: int) -> None:
        self._lines, self._chunk = lines, chunk
        self.count = 0

    def read(self, _size: int = -1) -> bytes:
        lines = list(islice(self._lines, self._chunk))
        self.count += len(lines)
        return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _line_writer(dialect: Dialect, given: list[Column[Any]],
                 defaulted: list[Column[Any]]) -> Callable[[Row], str]:
    """A row to its COPY line: the given columns, then the defaults (the same in every line)."""
    names = [c.name for c in given]
    values = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    encoders = [_encoder(dialect, c) for c in given]
    writers, nones = [e[0] for e in encoders], [e[1] for e in encoders]
    suffix = "".join(f"\t{_write(c.default.arg, *_encoder(dialect, c))}"  # type: ignore[union-attr]
                     for c in defaulted)

    def line(row: Row) -> str:
        return "\t".join([none if value is None else write(value)
                          for value, write, none in zip(values(row), writers, nones)]) + suffix
    return line


def _write(value: Any, encode: Converter, none: str) -> str:
    return none if value is None else encode(value)


def _encoder(dialect: Dialect, column: Column[Any]) -> tuple[Converter, str]:
    """How a column's value is written, and what None is: NULL, but JSON ``null`` in a JSON
    column that stores None so (SQLAlchemy's ``none_as_null=False``, the default)."""
    kind = column.type
    if isinstance(kind, JSON):
        encode = _json(getattr(dialect, "_json_serializer", None) or json.dumps)
        return encode, _NULL if kind.none_as_null else encode(None)
    if isinstance(kind, Boolean):
        return _boolean, _NULL
    if isinstance(kind, DateTime | Date):
        return _instants(), _NULL
    return _text, _NULL


def _json(serialize: Callable[[Any], str]) -> Converter:
    def encode(value: Any) -> str:
        # JSON text has no raw control characters (the serializer escapes them): only the
        # backslashes of its own escapes need doubling for COPY.
        return serialize(None if value is JSON.NULL else value).replace("\\", "\\\\")
    return encode


def _boolean(value: Any) -> str:
    return "t" if value else "f"


def _instants() -> Converter:
    """ISO 8601, the offset kept; the rows of one load mostly share one instant (``now``),
    so the last one is remembered."""
    last: list[Any] = [None, ""]

    def encode(value: date | datetime | str) -> str:
        if value is not last[0]:
            last[:] = value, _text(value) if isinstance(value, str) else value.isoformat()
        return last[1]
    return encode


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and "\\" not in text:  # most values: nothing to escape
        return text
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))
