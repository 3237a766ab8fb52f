"""The simulated accounting system: its customer table, the view it exposes, its import job.

Like Money S3 or Pohoda on MS SQL, it publishes customers through a read-only view and
takes changes as rows in an import table, which its own job applies later. Plain
SQLAlchemy Core, so the same schema runs on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

VIEW = "v_customers"
VALUE_COLUMNS = ("company_name", "ico", "dic", "street", "city", "zip", "country", "email",
                 "phone", "iban", "payment_terms_days", "credit_limit")
# MariaDB's DATETIME keeps whole seconds unless asked: the watermark needs microseconds,
# or rows written within one second would look older than a cursor that covered them.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

metadata = sa.MetaData()


def _value_columns() -> list[sa.Column[Any]]:
    """A fresh set per table: a Column belongs to exactly one Table."""
    return [
        sa.Column("company_name", sa.String(200)), sa.Column("ico", sa.String(16)),
        sa.Column("dic", sa.String(20)), sa.Column("street", sa.String(200)),
        sa.Column("city", sa.String(100)), sa.Column("zip", sa.String(16)),
        sa.Column("country", sa.String(2)), sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(40)), sa.Column("iban", sa.String(34)),
        sa.Column("payment_terms_days", sa.Integer), sa.Column("credit_limit", sa.Numeric(14, 2)),
    ]


customers_table = sa.Table(
    "customers", metadata,
    sa.Column("customer_no", sa.String(20), primary_key=True),
    *_value_columns(),
    sa.Column("updated_at", Timestamp, nullable=False),
)

import_table = sa.Table(
    "customer_import", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.String(100), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("customer_no", sa.String(20), nullable=False),
    *_value_columns(),
    # a server default, because writers (the hub) insert through their own reflected table
    sa.Column("created_at", sa.DateTime, nullable=False,
              server_default=sa.func.current_timestamp()),
    sa.Column("processed_at", Timestamp, nullable=True),
)

_view_select = sa.select(customers_table.c.customer_no,
                         *(customers_table.c[name] for name in VALUE_COLUMNS),
                         customers_table.c.updated_at)


def _now() -> datetime:
    """Naive UTC, bound from Python: SQL's clock functions differ in type and precision."""
    return datetime.now(UTC).replace(tzinfo=None)


def create_schema(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        metadata.create_all(conn)
        if VIEW not in sa.inspect(conn).get_view_names():
            conn.execute(sa.CreateView(_view_select, VIEW))


def drop_schema(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if conn.dialect.name != "sqlite":
            conn.exec_driver_sql(f"DROP PROCEDURE IF EXISTS {PROCEDURE}")
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {conn.dialect.identifier_preparer.quote(VIEW)}")
        metadata.drop_all(conn)


# The accounting system's import procedure, for hubs configured with ``import_procedure``:
# CALL custhub_import_customer(batch_id, idempotency_key, customer_no, values_json); a key
# seen before is ignored, so a repeated batch changes nothing. SQLite has no procedures.
PROCEDURE = "custhub_import_customer"
_PG_PROCEDURE = f"""
CREATE OR REPLACE PROCEDURE {PROCEDURE}(p_batch varchar, p_key varchar, p_no varchar, p_values json)
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO customer_import (batch_id, idempotency_key, customer_no, {", ".join(VALUE_COLUMNS)})
  SELECT p_batch, p_key, p_no, {", ".join(f"v.{c}" for c in VALUE_COLUMNS)}
  FROM json_populate_record(NULL::customer_import, p_values) AS v
  ON CONFLICT (idempotency_key) DO NOTHING;
END $$"""
_MARIADB_PROCEDURE = f"""
CREATE PROCEDURE {PROCEDURE}(IN p_batch VARCHAR(100), IN p_key VARCHAR(200),
                             IN p_no VARCHAR(20), IN p_values LONGTEXT)
BEGIN
  INSERT INTO customer_import (batch_id, idempotency_key, customer_no, {", ".join(VALUE_COLUMNS)})
  VALUES (p_batch, p_key, p_no, {", ".join(f"JSON_VALUE(p_values, '$.{c}')" for c in VALUE_COLUMNS)})
  ON DUPLICATE KEY UPDATE id = id;
END"""


def create_import_procedure(engine: sa.Engine) -> None:
    """Create (or replace) the import procedure on PostgreSQL or MariaDB/MySQL."""
    sql = {"postgresql": _PG_PROCEDURE, "mysql": _MARIADB_PROCEDURE,
           "mariadb": _MARIADB_PROCEDURE}.get(engine.dialect.name)
    if sql is None:
        raise ValueError(f"{engine.dialect.name} has no stored procedures")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP PROCEDURE IF EXISTS {PROCEDURE}")
        conn.exec_driver_sql(sql)


LOAD_CHUNK = 20_000  # rows per executemany: a million customers are never copied at once


def load(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    """Insert customers; a row without updated_at gets the current time."""
    now, names = _now(), customers_table.c.keys()
    with engine.begin() as conn:
        for start in range(0, len(rows), LOAD_CHUNK):
            conn.execute(customers_table.insert(), [
                {name: row.get(name) for name in names} | {"updated_at": row.get("updated_at") or now}
                for row in rows[start:start + LOAD_CHUNK]])


def apply_imports(engine: sa.Engine) -> int:
    """The accounting system's import job: pending rows in id order, NULL = unchanged."""
    with engine.begin() as conn:
        pending = conn.execute(sa.select(import_table)
                               .where(import_table.c.processed_at.is_(None))
                               .order_by(import_table.c.id)).mappings().all()
        now = _now()
        for row in pending:
            _apply_one(conn, row, now)
            conn.execute(import_table.update().where(import_table.c.id == row["id"])
                         .values(processed_at=now))
        return len(pending)


def _apply_one(conn: sa.Connection, row: sa.RowMapping, now: datetime) -> None:
    changes = {name: row[name] for name in VALUE_COLUMNS if row[name] is not None}
    key = customers_table.c.customer_no == row["customer_no"]
    exists = conn.execute(sa.select(sa.literal(1)).where(key)).first() is not None
    if exists:
        conn.execute(customers_table.update().where(key).values(**changes, updated_at=now))
    else:  # an import may also bring a customer the accounting system has not seen yet
        conn.execute(customers_table.insert().values(customer_no=row["customer_no"],
                                                     **changes, updated_at=now))


def customers(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(customers_table).order_by(customers_table.c.customer_no))
        return [dict(row) for row in rows.mappings()]
