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

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from connectors.base import Write, WriteRefusal
from connectors.errors import ConnectorConfigError

# import-table columns the connector fills itself (or the database does); the rest are values
IMPORT_OWN = frozenset({"id", "batch_id", "idempotency_key", "created_at", "processed_at"})
_IN_CHUNK = 500  # bound parameters per IN list: far below SQLite's and MS SQL's limits
_PROCEDURE_DIALECTS = frozenset({"postgresql", "mysql", "mariadb"})


def import_rows(table: sa.Table, key_column: str, writes: Sequence[Write],
                batch_id: str) -> tuple[list[dict[str, Any]], list[WriteRefusal]]:
    """Rows for the import table; a write that cannot become one is refused, not raised."""
    own = IMPORT_OWN | {key_column}
    values = {c.name: c for c in table.c if c.name not in own}
    rows: dict[str, dict[str, Any]] = {}  # by idempotency key: a repeat in a batch counts once
    refused: list[WriteRefusal] = []
    for w in writes:
        try:
            _check_known(w, values)
            row = {name: _coerce(column, w.values.get(name)) for name, column in values.items()}
        except (ValueError, ArithmeticError) as e:
            refused.append(WriteRefusal(w.idempotency_key, str(e)))
            continue
        rows.setdefault(w.idempotency_key, row | {
            "batch_id": batch_id, "idempotency_key": w.idempotency_key, key_column: w.record_id})
    return list(rows.values()), refused


def insert_new(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose idempotency key is not in the table yet; returns how many."""
    done = existing_keys(conn, table, [row["idempotency_key"] for row in rows])
    new = [row for row in rows if row["idempotency_key"] not in done]
    if new:
        conn.execute(table.insert(), new)
    return len(new)


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


def _check_known(write: Write, values: dict[str, sa.Column[Any]]) -> None:
    unknown = sorted(set(write.values) - set(values))
    if unknown:
        raise ValueError(f"the import table has no column(s) {unknown}")


def _coerce(column: sa.Column[Any], value: Any) -> Any:
    """JSON-shaped values (strings for decimals and times) into the column's Python type."""
    if value is None:
        return None
    try:
        python_type = column.type.python_type
    except NotImplementedError:  # a type SQLAlchemy cannot name: hand the value over as is
        return value
    if python_type is Decimal and not isinstance(value, Decimal):
        return Decimal(str(value))
    if python_type is int and isinstance(value, str):
        return int(value)
    if python_type is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    length = getattr(column.type, "length", None)
    if isinstance(value, str) and length and len(value) > length:
        raise ValueError(f"{column.name} is longer than {length} characters")
    return value


def existing_keys(conn: sa.Connection, table: sa.Table, keys: list[str]) -> set[str]:
    """The idempotency keys of ``keys`` that the import table holds."""
    column = table.c.idempotency_key
    found: set[str] = set()
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start:start + _IN_CHUNK]
        found.update(conn.execute(sa.select(column).where(column.in_(chunk))).scalars())
    return found
