"""bulk_insert: COPY on PostgreSQL, executemany on SQLite; rows read back as SQLAlchemy's own
insert of the same rows reads back, and a rollback leaves nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, insert, select
from sqlalchemy.orm import Session

from hub.store.bulk import bulk_insert, bulk_update, temporary_keys
from hub.store.db import make_engine, migrate, session_scope
from hub.store.models import Cursor, Discrepancy, GoldenRecord, Outbox, Run, SourceRecord

pytestmark = pytest.mark.integration

NASTY = ["tab\there", "line\nbreak", "cr\rlf\r\n", "back\\slash \\N \\t \\\\", "quote ' and \" both",
         "Žluťoučký kůň úpěl ďábelské ódy", "emoji 🧾 and 中文", "", " ", "\\.", "NULL", "\\N"]
PRAGUE = timezone(timedelta(hours=2))


@pytest.fixture
def engine(hub_store_url: str) -> Iterator[Engine]:
    engine = make_engine(hub_store_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _source_rows(system: str) -> list[dict[str, Any]]:
    rows = []
    for i, text in enumerate(NASTY):
        payload = {"name": text, "nested": {"list": [1, 2.5, None, True, text], "empty": {}},
                   "none": None, "n": i}
        rows.append({"system": system, "record_id": f"r{i}\t{text}", "payload": payload,
                     "content_hash": f"{i:064d}", "version": None if i % 2 else text[:60],
                     "source_version": None, "location": text or None,
                     "fetched_at": datetime(2026, 1, 1, 8, i, 0, 123456, tzinfo=PRAGUE if i % 2 else UTC),
                     "run_id": "run-1", "deleted_at": None if i % 3 else datetime(2026, 2, 1, tzinfo=UTC)})
    return rows


def _read(engine: Engine, table: Table, where: Any) -> list[dict[str, Any]]:
    keys = [c for c in table.c if c.name not in ("id", "system", "run_id")]
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(*keys).where(where).order_by(keys[0]))]


def test_source_records_read_back_as_an_orm_insert_of_the_same_rows(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert bulk_insert(session, SourceRecord.__table__, iter(_source_rows("bulk")), chunk=5) == len(NASTY)
        session.execute(insert(SourceRecord.__table__), _source_rows("orm"))
    table = SourceRecord.__table__
    bulk, orm = _read(engine, table, table.c.system == "bulk"), _read(engine, table, table.c.system == "orm")
    assert bulk == orm
    assert len(bulk) == len(NASTY)
    if engine.dialect.name == "postgresql":  # instants keep their offset's meaning
        given = sorted(_source_rows("x"), key=lambda r: r["record_id"])
        assert [r["fetched_at"] for r in bulk] == [r["fetched_at"] for r in given]
        assert [r["payload"] for r in bulk] == [r["payload"] for r in given]


def test_defaults_booleans_json_null_and_nulls(engine: Engine) -> None:
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    outbox = [{"idempotency_key": f"k{i}", "run_id": "r", "system": "crm", "record_id": text, "hub_id": "h",
               "values": {"name": text}, "status": "pending", "expected_version": None, "created_at": now}
              for i, text in enumerate(NASTY)]
    golden = [{"hub_id": f"h{i}", "version": 1, "values": {"v": text}, "lineage": {}, "is_current": i % 2 == 0,
               "run_id": "r", "created_at": now} for i, text in enumerate(NASTY)]
    differences = [{"run_id": "r", "hub_id": "h", "system": "crm", "record_id": str(i), "field": "name",
                    "system_value": text, "golden_value": None, "source": None, "rule": "most_recent",
                    "corrected": bool(i % 2)} for i, text in enumerate(NASTY)]
    cursors = [{"system": "crm", "value": None, "run_id": None, "updated_at": now},
               {"system": "erp", "value": {"at": "2026\\01"}, "run_id": "r", "updated_at": now}]
    with session_scope(engine) as session:
        for table, rows in ((Outbox, outbox), (GoldenRecord, golden), (Discrepancy, differences), (Cursor, cursors)):
            assert bulk_insert(session, table.__table__, rows) == len(rows)
    with session_scope(engine) as session:
        sent = session.scalars(select(Outbox).order_by(Outbox.idempotency_key)).all()
        assert [(o.record_id, o.values, o.attempts, o.sent_at) for o in sent] == [
            (r["record_id"], r["values"], 0, None)  # attempts: its default
            for r in sorted(outbox, key=lambda r: r["idempotency_key"])]
        assert {g.hub_id: g.is_current for g in session.scalars(select(GoldenRecord))} == {
            r["hub_id"]: r["is_current"] for r in golden}
        found = session.scalars(select(Discrepancy).order_by(Discrepancy.id)).all()
        assert [(d.system_value, d.golden_value, d.corrected) for d in found] == [
            (r["system_value"], None, r["corrected"]) for r in differences]
        assert {c.system: c.value for c in session.scalars(select(Cursor))} == {"crm": None, "erp": {"at": "2026\\01"}}
        # None in a JSON column is JSON null, as SQLAlchemy's own insert writes it: not SQL NULL
        assert session.scalar(select(func.count()).where(Cursor.value.is_(None))) == 0


def test_a_rollback_leaves_nothing(engine: Engine) -> None:
    with Session(engine) as session, session.begin() as tx:
        session.add(Run(id="run-1", kind="nightly", status="running", started_at=datetime.now(UTC)))
        bulk_insert(session, SourceRecord.__table__, _source_rows("bulk"))
        # inside the caller's transaction: the session sees both the flushed run and the rows
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == len(NASTY)
        assert session.get(Run, "run-1") is not None
        tx.rollback()
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == 0
        assert session.scalar(select(func.count()).select_from(Run)) == 0


def test_a_failing_load_undoes_the_whole_transaction(engine: Engine) -> None:
    rows = _source_rows("bulk")
    with pytest.raises(Exception), session_scope(engine) as session:
        bulk_insert(session, SourceRecord.__table__, rows[:3])
        bulk_insert(session, SourceRecord.__table__, rows[2:])  # (system, record_id) once only
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == 0


def test_nothing_to_insert_and_unknown_columns(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert bulk_insert(session, SourceRecord.__table__, iter([])) == 0
        with pytest.raises(Exception, match="nope"):
            bulk_insert(session, Cursor.__table__, [{"system": "crm", "nope": 1}])


def test_bulk_update_sets_the_given_columns_of_the_keyed_rows_only(engine: Engine) -> None:
    with session_scope(engine) as session:
        bulk_insert(session, SourceRecord.__table__, _source_rows("bulk"))
    with session_scope(engine) as session:
        ids = dict(session.execute(select(SourceRecord.record_id, SourceRecord.id)).tuples().all())
    originals = {r["record_id"]: r for r in _source_rows("bulk")}
    changed = sorted(ids)[::2]
    later = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    updates = [{"id": ids[key], "payload": {"again": key, "n": None}, "location": None, "version": f"v\t{i}",
                "fetched_at": later, "deleted_at": None} for i, key in enumerate(changed)]
    with Session(engine) as session, session.begin() as tx:
        assert bulk_update(session, SourceRecord.__table__, "id", updates[:2]) == 2
        tx.rollback()  # undone with the transaction
    with session_scope(engine) as session:
        assert bulk_update(session, SourceRecord.__table__, "id", iter(updates[:3])) == 3
        assert bulk_update(session, SourceRecord.__table__, "id", iter(updates[3:])) == len(changed) - 3
        assert bulk_update(session, SourceRecord.__table__, "id", []) == 0
    with session_scope(engine) as session:
        for row in session.scalars(select(SourceRecord)):
            if row.record_id in changed:
                i = changed.index(row.record_id)
                assert (row.payload, row.location, row.version, row.deleted_at) == (
                    {"again": row.record_id, "n": None}, None, f"v\t{i}", None)
                assert row.fetched_at.replace(tzinfo=UTC) == later  # SQLite keeps no offset
            else:
                assert (row.payload, row.version) == (originals[row.record_id]["payload"],
                                                      originals[row.record_id]["version"])
            assert row.content_hash == originals[row.record_id]["content_hash"]  # not given: kept


def test_temporary_keys_join_and_a_failed_use_does_not_block_the_next(engine: Engine) -> None:
    rows = _source_rows("bulk")
    with session_scope(engine) as session:
        bulk_insert(session, SourceRecord.__table__, rows)
    wanted = sorted(r["record_id"] for r in rows[::3])
    table = SourceRecord.__table__

    def joined(session: Session) -> list[str]:
        with temporary_keys(session, "test_keys", {"system": 64, "record_id": 128},
                            ({"system": "bulk", "record_id": r} for r in wanted)) as keys:
            return sorted(session.scalars(select(table.c.record_id).join(keys, (keys.c.system == table.c.system)
                                                                          & (keys.c.record_id == table.c.record_id))))

    with pytest.raises(RuntimeError), Session(engine) as session, session.begin():
        with temporary_keys(session, "test_keys", {"system": 64, "record_id": 128},
                            [{"system": "bulk", "record_id": "x"}]):
            raise RuntimeError("the caller failed")
    for _ in range(2):  # on the same pooled connection, again and again
        with session_scope(engine) as session:
            assert joined(session) == wanted
