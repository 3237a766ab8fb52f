"""Accounting over SQL: read a customer view by watermark, write rows into an import table.

Reading: one query with the cursor's range as its WHERE (``connectors.cursor.Cursor.where``:
``(wm > :w OR (wm = :w AND key > :k)) [AND wm < :end] ORDER BY wm, key``), streamed and cut
into pages of ``chunk_size``; each page carries the cursor after its last row, so rows sharing a
watermark across a page boundary are neither missed nor doubled. A backfill window's end is
pushed into the WHERE as well. With ``overlap_seconds`` the read starts that much before the
cursor instead and re-delivers the rows in between (the hub de-duplicates them by content
hash); that catches rows whose transaction committed after a later watermark had been read.
Failures are classified by the table in ``connectors.sql.errors``. On psycopg2 (a server-side
cursor) and pyodbc the rows come straight from the DBAPI cursor (``connectors.sql.rows``: the
same records SQLAlchemy's result made, at the driver's speed); elsewhere through SQLAlchemy.

Deletions: ``scan_keys()`` streams every key of the view (a full key scan, run nightly);
the hub compares it with what it has staged, see ``hub.pipeline.extract``.

Full comparison: ``full_scan()`` reads every row of the view, whatever its watermark, in the
same pages; the hub compares each with what it staged by content hash. A row restored (or
corrected) with an old timestamp sorts behind the cursor, so no incremental read ever sees
it again: only this does. ``full_scan_every_days`` says how often the hub runs it (None:
never by itself; 0: every nightly run).

Writing: one batch in one transaction, idempotent by key; into the import table (COPY on
psycopg2, multi-row INSERTs over pyodbc) or through a configured stored procedure (see
``connectors.sql.writes``). The accounting system's own
job applies the import rows later (NULL = leave unchanged). After a crash, ``settle`` finds
the writes the import table received by their idempotency key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc

from connectors.base import JsonDict, Page, Progress, RawRecord, Write, WriteResult
from connectors.cursor import Cursor
from connectors.errors import ConnectorError
from connectors.retry import call_with_retry
from connectors.sql.errors import translate
from connectors.sql.identifiers import check_identifier, reflect, require_identifiers
from connectors.sql.rows import PLAIN, RAW_DRIVERS, json_safe, raw_batches, records
from connectors.sql.urls import make_engine
from connectors.sql.writes import (
    existing_keys,
    import_rows,
    insert_new,
    procedure_call,
    procedure_params,
)
from core.connections import ConnectionInfo

Identifier = Annotated[str, AfterValidator(check_identifier)]


class SqlViewSettings(BaseModel):
    """The ``connector:`` block of a ``sql_view`` system in config/hub.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    view: Identifier = "v_customers"
    schema_name: Identifier | None = None
    key_column: Identifier = "customer_no"
    watermark_column: Identifier = "updated_at"
    import_table: Identifier = "customer_import"
    # write through CALL <procedure>(batch_id, idempotency_key, record_id, values_json)
    # instead of inserting into import_table (PostgreSQL, MariaDB; SQLite has none)
    import_procedure: Identifier | None = None
    chunk_size: int = Field(default=1000, ge=1, le=100_000)
    overlap_seconds: int = Field(default=0, ge=0, le=7 * 24 * 3600)
    full_scan_every_days: int | None = Field(default=None, ge=0, le=366)
    connect_timeout_seconds: int = Field(default=10, ge=1, le=300)


def _instant(value: Any) -> Any:
    """A watermark as the cursor compares it: psycopg2's raw read hands timestamps over as
    their ISO text (``connectors.sql.rows``)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class SqlViewConnector:
    """Source (a view, by watermark) and sink (an import table) of one SQL database."""

    Settings: ClassVar[type[SqlViewSettings]] = SqlViewSettings

    def __init__(self, system: str, settings: SqlViewSettings, conn: ConnectionInfo,
                 **_extras: Any):  # the contract's extras: nothing this connector needs
        # re-checked here, before any I/O, in case settings were built without validation
        require_identifiers({"view": settings.view, "schema_name": settings.schema_name,
                             "key_column": settings.key_column,
                             "watermark_column": settings.watermark_column,
                             "import_table": settings.import_table,
                             "import_procedure": settings.import_procedure}, system)
        self.system, self.settings, self._conn = system, settings, conn
        self._engine: sa.Engine | None = None
        self._tables: dict[str, sa.Table] = {}

    @property
    def cursor_field(self) -> str:
        """What the cursor follows; also says that this source reads by a cursor."""
        return self.settings.watermark_column

    def __repr__(self) -> str:
        return f"SqlViewConnector(system={self.system!r}, view={self.settings.view!r})"

    def __enter__(self) -> SqlViewConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            with self._guard("creating the engine"):
                self._engine = make_engine(self._conn,
                                           connect_timeout=self.settings.connect_timeout_seconds)
        return self._engine

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """The one place driver and SQLAlchemy errors become ConnectorErrors."""
        try:
            yield
        except ConnectorError as e:
            e.system = e.system or self.system
            raise
        except sa_exc.SQLAlchemyError as e:  # the driver's, or a dialect, URL or statement of ours
            raise translate(e, doing, self.system) from e

    def _table(self, name: str, columns: Sequence[str]) -> sa.Table:
        """Reflected once per connector: proves the object and its columns exist."""
        if name not in self._tables:
            def load() -> sa.Table:
                with self._guard(f"reading the definition of {name}"), self.engine.connect() as c:
                    return reflect(c, name, self.settings.schema_name, columns, self.system)
            self._tables[name] = call_with_retry(load)
        return self._tables[name]

    def _view(self) -> sa.Table:
        s = self.settings
        return self._table(s.view, (s.key_column, s.watermark_column))

    def _import(self) -> sa.Table:
        s = self.settings
        return self._table(s.import_table, ("batch_id", "idempotency_key", s.key_column))

    # --- reading -------------------------------------------------------------------------

    def _select(self, view: sa.Table, read_from: Cursor) -> sa.Select[Any]:
        wm, key = view.c[self.settings.watermark_column], view.c[self.settings.key_column]
        return sa.select(view).where(read_from.where(wm, key)).order_by(wm, key)

    def _stored(self, view: sa.Table, cursor: JsonDict | None) -> Cursor:
        """The cursor in the column's convention: aware, or naive UTC for a column without a
        time zone (a backfill window arrives aware)."""
        column = view.c[self.settings.watermark_column]
        stored = Cursor.from_json(cursor, system=self.system, field=column.name)
        return stored.zoned(aware=bool(getattr(column.type, "timezone", False)))

    def _last_watermarked(self, rows: Sequence[Sequence[Any]], wm: int
                          ) -> Sequence[Any] | None:
        """The page's furthest row: rows come in (watermark, key) order, so the last one
        with a watermark (NULLs sort first on some databases, last on others)."""
        return next((row for row in reversed(rows) if row[wm] is not None), None)

    def _records(self, rows: Sequence[sa.Row[Any]], names: list[str], key: int) -> list[RawRecord]:
        view = self.settings.view
        return [RawRecord(record_id=str(row[key]), location=view, payload={
            name: value if type(value) in PLAIN else json_safe(value)  # the common case, fast
            for name, value in zip(names, row)}) for row in rows]

    def read_pages(self, cursor: JsonDict | None) -> Iterator[Page]:
        """Pages of rows in ``cursor``'s range; the connection stays open while pages are
        consumed. Each page's cursor is the (watermark, key) of its furthest row, and never
        moves back (rows re-delivered from the overlap are behind it)."""
        view = self._view()
        position = self._stored(view, cursor)
        overlap = timedelta(seconds=self.settings.overlap_seconds)
        stmt = self._select(view, position.rewound(overlap))
        with self._guard(f"reading {self.settings.view}"):
            conn = call_with_retry(self._connect)
            with conn:
                for names, rows, page in self._batches(conn, stmt):
                    wm, key = (names.index(self.settings.watermark_column),
                               names.index(self.settings.key_column))
                    row = self._last_watermarked(rows, wm)
                    if row is not None:  # no watermark in the page: only a full read sees it
                        position = position.after(_instant(row[wm]), str(row[key]))
                    yield Page(records=page, cursor=position.to_json(),
                               source_name=self.settings.view)

    def _batches(self, conn: sa.Connection, stmt: sa.Select[Any]
                 ) -> Iterator[tuple[list[str], Sequence[Sequence[Any]], list[RawRecord]]]:
        """(column names, rows, their records) per ``chunk_size`` rows: from the DBAPI cursor
        where that is exact (``connectors.sql.rows``), else through SQLAlchemy's result."""
        chunk, view = self.settings.chunk_size, self.settings.view
        if conn.dialect.driver in RAW_DRIVERS:
            for names, fixes, rows in raw_batches(conn, stmt, chunk):
                key = names.index(self.settings.key_column)
                yield names, rows, records(rows, names, key, view, fixes)
            return
        result = conn.execution_options(yield_per=chunk).execute(stmt)
        names = list(result.keys())
        key = names.index(self.settings.key_column)
        for rows in result.partitions():
            yield names, rows, self._records(rows, names, key)

    def full_scan(self) -> Iterator[Page]:
        """Every row of the view, in pages ordered by (watermark, key); each page's cursor is
        its furthest row, as ``read_pages`` gives them (the hub keeps the further of it and
        the stored one)."""
        return self.read_pages(None)

    @property
    def full_scan_every_days(self) -> int | None:
        return self.settings.full_scan_every_days

    def _connect(self) -> sa.Connection:
        with self._guard("connecting"):
            return self.engine.connect()

    def acknowledge(self, page: Page) -> None:
        """Nothing to let go of: a view keeps no per-reader state."""

    def scan_keys(self) -> Iterator[str]:
        """Every key in the view, streamed (for delete detection): memory stays flat however
        many keys there are; only opening the connection is retried, not a half-read scan."""
        return self._stream_keys(self._view().c[self.settings.key_column])  # reflected now

    def _stream_keys(self, key: sa.Column[Any]) -> Iterator[str]:
        with self._guard(f"scanning {self.settings.view}"):
            conn = call_with_retry(self._connect)
            with conn:
                result = conn.execution_options(yield_per=self.settings.chunk_size).execute(
                    sa.select(key))
                for value in result.scalars():
                    yield str(value)

    # --- writing -------------------------------------------------------------------------

    def write(self, writes: Sequence[Write], batch_id: str,
              progress: Progress | None = None) -> WriteResult:
        """The batch in one transaction (or one procedure call): ``progress`` is told once."""
        if self.settings.import_procedure:
            call_with_retry(lambda: self._call_procedure(writes, batch_id))
            result = WriteResult(applied=list(dict.fromkeys(w.idempotency_key for w in writes)))
        else:
            table = self._import()
            rows, refused = import_rows(table, self.settings.key_column, writes, batch_id)
            if rows:
                call_with_retry(lambda: self._insert_new(table, rows))
            result = WriteResult(applied=[row["idempotency_key"] for row in rows], refused=refused)
        if progress is not None:
            progress(len(writes))
        return result

    def _insert_new(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        with self._guard(f"writing to {table.name}"), self.engine.begin() as conn:
            insert_new(conn, table, rows)

    def settle(self, writes: Sequence[Write], since: datetime) -> WriteResult:
        """The writes whose idempotency key the import table holds (read only; ``since`` is not
        needed: the key says it all). Through a procedure the hub sees no table: nothing is
        settled, and the procedure's own key check absorbs the re-send."""
        if self.settings.import_procedure:
            return WriteResult()
        table = self._import()
        keys = list(dict.fromkeys(w.idempotency_key for w in writes))

        def look() -> set[str]:
            with self._guard(f"reading {table.name}"), self.engine.connect() as conn:
                return existing_keys(conn, table, keys)
        held = call_with_retry(look)
        return WriteResult(applied=[key for key in keys if key in held])

    def _call_procedure(self, writes: Sequence[Write], batch_id: str) -> None:
        name = self.settings.import_procedure or ""
        with self._guard(f"calling {name}"), self.engine.begin() as conn:
            call = procedure_call(conn, name, self.settings.schema_name, self.system)
            params = procedure_params(writes, batch_id)
            if params:
                conn.execute(call, params)

    def test_connection(self) -> tuple[bool, str]:
        try:
            view = self._view()
            with self._guard("counting rows"), self.engine.connect() as conn:
                count = conn.execute(sa.select(sa.func.count()).select_from(view)).scalar_one()
                target = self._write_target(conn)
        except ConnectorError as e:
            return False, str(e)
        return True, (f"connected ({self.engine.dialect.name}): {view.name} has {count} rows, "
                      f"{target} is there to write to")

    def _write_target(self, conn: sa.Connection) -> str:
        if self.settings.import_procedure:
            procedure_call(conn, self.settings.import_procedure, self.settings.schema_name,
                           self.system)
            return f"procedure {self.settings.import_procedure}"
        return self._import().name
