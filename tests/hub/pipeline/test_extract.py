"""extract(): cursors, the file ledger and deletions, over real sources and a real hub store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import load_config
from connectors.errors import FileRefusedError
from hub.pipeline.context import RunContext, build_connector, open_store
from hub.pipeline.extract import extract
from hub.pipeline.runs import start_run
from hub.pipeline.stage import stage_page
from hub.store.db import session_scope
from hub.store.models import Cursor as StoredCursor
from hub.store.models import FileLedger, Quarantine, ReviewItem, SourceRecord
from sandbox import accounting_db

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 8, 0, 0, 500_000)
HEADER = "PARTNER_ID;NAZEV;ICO;DIC;ULICE;MESTO;PSC;ZEME;EMAIL;TELEFON;SPLATNOST_DNI;UVEROVY_LIMIT\r\n"
NewRun = Callable[[], RunContext]


def _config(tmp_path: Path, system: str, **connector: Any):  # type: ignore[no-untyped-def]
    config = load_config()
    block = config.systems[system]
    block = block.model_copy(update={"connector": {**block.connector, **connector}})
    return config.model_copy(update={"systems": {system: block},
                                     "store": config.store.model_copy(
                                         update={"url": f"sqlite:///{tmp_path / 'hub.db'}"})})


def _runs(config) -> NewRun:  # type: ignore[no-untyped-def]
    engine = open_store(config)
    return lambda: RunContext(config, engine, start_run(engine, "nightly"))


@pytest.fixture
def accounting(tmp_path: Path, sqlite_db, monkeypatch: pytest.MonkeyPatch) -> NewRun:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CUSTHUB_STORE_URL", raising=False)
    accounting_db.drop_schema(sqlite_db.engine)
    accounting_db.create_schema(sqlite_db.engine)
    monkeypatch.setenv("AIRFLOW_CONN_CUSTHUB_ACCOUNTING",
                       json.dumps({"conn_type": "sqlite", "host": sqlite_db.conn.host}))
    return _runs(_config(tmp_path, "accounting", chunk_size=2))


def erp_runs(tmp_path: Path, sandbox_sftp, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
             **settings: object) -> NewRun:
    """New runs over a store whose ERP is the sandbox SFTP server, its connector set as ``settings``."""
    monkeypatch.delenv("CUSTHUB_STORE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_CUSTHUB_ERP", json.dumps({
        "conn_type": "sftp", "host": sandbox_sftp.server.host, "port": sandbox_sftp.server.port,
        "login": sandbox_sftp.login, "password": sandbox_sftp.password,
        "extra": {"host_key": sandbox_sftp.server.host_key_base64()}}))
    return _runs(_config(tmp_path, "erp", **settings))


@pytest.fixture
def erp(tmp_path: Path, sandbox_sftp, monkeypatch: pytest.MonkeyPatch) -> NewRun:  # type: ignore[no-untyped-def]
    return erp_runs(tmp_path, sandbox_sftp, monkeypatch, page_size=2, timeout_seconds=5)


def _store(ctx: RunContext) -> Session:
    return Session(ctx.engine)


def _records(ctx: RunContext, system: str) -> dict[str, SourceRecord]:
    with _store(ctx) as s:
        return {r.record_id: r for r in s.scalars(select(SourceRecord).where(
            SourceRecord.system == system))}


def _reviews(ctx: RunContext) -> list[tuple[str, str | None, str]]:
    with _store(ctx) as s:
        return [(i.kind, i.record_id, i.status) for i in s.scalars(select(ReviewItem))]


# -- SQL: cursor and full key scan -----------------------------------------------------------
def _customers(engine: sa.Engine, *nos: str, at: datetime = T0) -> None:
    accounting_db.load(engine, [{"customer_no": no, "company_name": f"Firma {no}",
                                 "updated_at": at} for no in nos])


def test_rows_sharing_the_cursor_timestamp_are_picked_up_next_run(
        accounting: NewRun, sqlite_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _customers(sqlite_db.engine, "ACC3", "ACC1", "ACC2")  # one timestamp, chunks of 2
    assert extract(accounting(), "accounting")["new"] == 3
    _customers(sqlite_db.engine, "ACC4", "ACC0")  # committed late, with the same timestamp
    second = extract(accounting(), "accounting")
    # (watermark, key) > cursor: ACC4 sorts after the cursor's key; ACC0 sorts before it,
    # which only an overlap window catches (and the hub de-duplicates what it re-reads)
    assert second["new"] == 1 and second["extracted"] == 1
    overlapping = _runs(_config(tmp_path, "accounting", chunk_size=2, overlap_seconds=60))
    third = extract(overlapping(), "accounting")
    assert (third["new"], third["unchanged"]) == (1, 4)
    assert sorted(_records(accounting(), "accounting")) == ["ACC0", "ACC1", "ACC2", "ACC3",
                                                            "ACC4"]


def test_a_row_deleted_at_the_source_is_put_to_review_not_deleted(accounting: NewRun,
                                                                  sqlite_db) -> None:  # type: ignore[no-untyped-def]
    _customers(sqlite_db.engine, "ACC1", "ACC2", "ACC3")
    extract(accounting(), "accounting")
    with sqlite_db.engine.begin() as conn:
        conn.execute(accounting_db.customers_table.delete().where(
            accounting_db.customers_table.c.customer_no == "ACC2"))

    assert extract(accounting(), "accounting")["deleted_at_source"] == 1
    assert extract(accounting(), "accounting")["deleted_at_source"] == 0  # asked once
    ctx = accounting()
    records = _records(ctx, "accounting")
    assert records["ACC2"].deleted_at is not None and records["ACC2"].payload["company_name"]
    assert records["ACC1"].deleted_at is None
    assert _reviews(ctx) == [("deleted_at_source", "ACC2", "open")]

    _customers(sqlite_db.engine, "ACC2", at=T0 + timedelta(days=1))  # it comes back
    assert extract(accounting(), "accounting")["reappeared"] == 1
    assert _records(ctx, "accounting")["ACC2"].deleted_at is None
    assert _reviews(ctx) == [("deleted_at_source", "ACC2", "dismissed")]


def test_an_incremental_run_without_the_scan_deletes_nothing(accounting: NewRun,
                                                            sqlite_db) -> None:  # type: ignore[no-untyped-def]
    _customers(sqlite_db.engine, "ACC1", "ACC2")
    extract(accounting(), "accounting")
    with sqlite_db.engine.begin() as conn:
        conn.execute(accounting_db.customers_table.delete())
    counts = extract(accounting(), "accounting", detect_deletions=False)
    assert counts.get("deleted_at_source", 0) == 0 and _reviews(accounting()) == []
    assert all(r.deleted_at is None for r in _records(accounting(), "accounting").values())


# -- files: the ledger, complete exports, refused files --------------------------------------
def _export(root: Path, day: int, *ids: str, text: str | None = None) -> bytes:
    data = (text or HEADER + "".join(f"{i};Firma {i} s.r.o.;;;;;;CZ;;;14;100,00\r\n"
                                     for i in ids)).encode("cp1250")
    (root / "export").mkdir(parents=True, exist_ok=True)
    (root / "export" / f"customers-202601{day:02d}.csv").write_bytes(data)
    (root / "export" / f"customers-202601{day:02d}.csv.done").write_bytes(b"")
    return data


def _quarantined(ctx: RunContext) -> int:
    with _store(ctx) as s:
        return len(s.scalars(select(Quarantine)).all())


def _ledger(ctx: RunContext) -> int:
    with _store(ctx) as s:
        return len(s.scalars(select(FileLedger)).all())


def test_a_redelivered_file_is_recognised_and_not_applied_twice(erp: NewRun, sandbox_sftp) -> None:  # type: ignore[no-untyped-def]
    root = sandbox_sftp.files_root
    data = _export(root, 1, "P1", "P2", "P3")
    first = extract(erp(), "erp")
    assert (first["new"], first["extracted"]) == (3, 3)
    _export(root, 1, "P1", "P2", "P3")  # the partner sends the very same file again
    again = extract(erp(), "erp")
    assert again.get("extracted", 0) == 0 and again["files_already_applied"] == 1
    assert _ledger(erp()) == 1
    assert (root / "archive" / "customers-20260101.csv").read_bytes() == data
    assert sorted(p.name for p in (root / "export").iterdir()) == []


def test_a_file_half_stored_before_a_crash_is_stored_once_on_the_next_run(
        erp: NewRun, sandbox_sftp) -> None:  # type: ignore[no-untyped-def]
    _export(sandbox_sftp.files_root, 1, "P1", "P2", "P3", "P4", "P5")
    ctx = erp()
    connector = build_connector(ctx.config, "erp")
    pages = connector.read_pages(None)
    with session_scope(ctx.engine) as session:  # the first page is stored, then the crash
        stage_page(session, "erp", next(pages), ctx.run_id)
    pages.close()
    assert _ledger(ctx) == 0 and len(_records(ctx, "erp")) == 2

    counts = extract(erp(), "erp")
    assert (counts["new"], counts["unchanged"], _ledger(ctx)) == (3, 2, 1)
    assert not (sandbox_sftp.files_root / "export" / "customers-20260101.csv").exists()


def test_a_partner_missing_from_a_complete_export_is_a_deletion_candidate(
        erp: NewRun, sandbox_sftp) -> None:  # type: ignore[no-untyped-def]
    _export(sandbox_sftp.files_root, 1, "P1", "P2", "P3")
    extract(erp(), "erp")
    _export(sandbox_sftp.files_root, 2, "P1", "P3")
    assert extract(erp(), "erp")["deleted_at_source"] == 1
    assert _reviews(erp()) == [("deleted_at_source", "P2", "open")]


def test_a_garbage_file_stages_nothing_deletes_nothing_and_goes_to_error(
        erp: NewRun, sandbox_sftp) -> None:  # type: ignore[no-untyped-def]
    root = sandbox_sftp.files_root
    _export(root, 1, "P1", "P2", "P3")
    extract(erp(), "erp")
    garbage = HEADER + "".join(f"P{n};Nová;x\r\n" for n in range(1, 4)) + "P9;only;this;row\r\n"
    _export(root, 2, text=garbage)  # wrong column counts on most rows
    with pytest.raises(FileRefusedError, match="4 of 4 rows unreadable") as refused:
        extract(erp(), "erp")
    assert refused.value.kind == "data" and "\n" not in refused.value.one_line()
    assert all(r.payload["NAZEV"].startswith("Firma") for r in _records(erp(), "erp").values())
    assert all(r.deleted_at is None for r in _records(erp(), "erp").values())
    assert _quarantined(erp()) == 1  # one quarantine entry: the file and why
    assert (root / "error" / "customers-20260102.csv.reason.txt").exists()
    assert _ledger(erp()) == 1  # a refused file is never "applied"


def test_a_source_that_suddenly_shrinks_has_its_deletions_held(erp: NewRun, sandbox_sftp) -> None:  # type: ignore[no-untyped-def]
    root = sandbox_sftp.files_root
    _export(root, 1, *(f"P{n}" for n in range(30)))
    extract(erp(), "erp")
    _export(root, 2, "P1")  # readable, but 29 of 30 partners gone
    counts = extract(erp(), "erp")  # the run goes on
    assert counts["deletions_held"] == 29 and counts.get("deleted_at_source", 0) == 0
    assert all(r.deleted_at is None for r in _records(erp(), "erp").values())
    assert _reviews(erp()) == [("deletions_held", None, "open")]


# -- monotonic: an older version never replaces a newer one -----------------------------------
def _set_row(engine: sa.Engine, no: str, name: str, at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(accounting_db.customers_table.update().where(
            accounting_db.customers_table.c.customer_no == no).values(company_name=name,
                                                                      updated_at=at))


def test_an_older_row_read_again_in_the_overlap_is_stale_not_staged(
        accounting: NewRun, sqlite_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    overlapping = _runs(_config(tmp_path, "accounting", chunk_size=2, overlap_seconds=3600))
    _customers(sqlite_db.engine, "ACC1", "ACC2")
    extract(overlapping(), "accounting")
    _set_row(sqlite_db.engine, "ACC1", "Newer", T0 + timedelta(minutes=10))
    assert extract(overlapping(), "accounting")["changed"] == 1
    # the source gives an older version again (a late commit stamped before the newer one)
    _set_row(sqlite_db.engine, "ACC1", "Older", T0 + timedelta(minutes=5))
    counts = extract(overlapping(), "accounting")
    assert counts["stale"] == 1 and not counts.get("changed")
    record = _records(accounting(), "accounting")["ACC1"]
    assert record.payload["company_name"] == "Newer"
    assert record.source_version == "t2026-03-01T08:10:00.500000"
    # the same version with other content is a correction at the source: staged
    _set_row(sqlite_db.engine, "ACC1", "Corrected", T0 + timedelta(minutes=10))
    assert extract(overlapping(), "accounting")["changed"] == 1
    assert _records(accounting(), "accounting")["ACC1"].payload["company_name"] == "Corrected"


def test_a_late_older_export_is_not_staged_over_the_newer_one(erp: NewRun, sandbox_sftp) -> None:  # type: ignore[no-untyped-def]
    root = sandbox_sftp.files_root
    _export(root, 2, "P1", "P2", "P3")
    extract(erp(), "erp")
    older = HEADER + "".join(f"{i};Stará {i} s.r.o.;;;;;;CZ;;;14;100,00\r\n" for i in ("P1", "P2"))
    _export(root, 1, text=older)  # yesterday's export, delivered late
    counts = extract(erp(), "erp")
    assert counts["stale"] == 2 and not counts.get("changed")
    assert not counts.get("deleted_at_source")  # an old file says nothing about P3 now
    records = _records(erp(), "erp")
    assert all(r.payload["NAZEV"].startswith("Firma") for r in records.values())
    assert records["P1"].source_version == "t2026-01-02T00:00:00.000000"
    assert all(r.deleted_at is None for r in records.values()) and _reviews(erp()) == []


# -- the full comparison ----------------------------------------------------------------------
def test_the_full_comparison_finds_rows_restored_with_an_old_timestamp(
        accounting: NewRun, sqlite_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _customers(sqlite_db.engine, "ACC1", "ACC2", "ACC3")
    extract(accounting(), "accounting")
    _customers(sqlite_db.engine, "ACC4", at=T0 + timedelta(days=1))
    extract(accounting(), "accounting")  # the cursor is a day ahead of ACC1..3 now
    with sqlite_db.engine.begin() as conn:
        conn.execute(accounting_db.customers_table.delete().where(
            accounting_db.customers_table.c.customer_no == "ACC2"))
    assert extract(accounting(), "accounting")["deleted_at_source"] == 1
    # restored from a backup, with their old timestamps: behind the watermark
    _customers(sqlite_db.engine, "ACC2", "ACC0")
    _set_row(sqlite_db.engine, "ACC3", "Opraveno", T0)
    incremental = extract(accounting(), "accounting")
    assert not incremental.get("new") and not incremental.get("changed")
    assert incremental.get("full_scan", 0) == 0

    full = _runs(_config(tmp_path, "accounting", chunk_size=2, full_scan_every_days=7))
    counts = extract(full(), "accounting")
    assert (counts["new"], counts["changed"], counts["reappeared"]) == (1, 1, 1)
    assert counts["unchanged"] == 3 and counts.get("deleted_at_source", 0) == 0
    records = _records(full(), "accounting")
    assert records["ACC3"].payload["company_name"] == "Opraveno" and "ACC0" in records
    assert records["ACC2"].deleted_at is None
    with _store(accounting()) as s:
        cursor = s.get(StoredCursor, "accounting").value
    assert cursor["start"].startswith("2026-03-02")  # still past ACC4: never moved back
    assert extract(full(), "accounting").get("extracted", 0) == 0  # not due again for 7 days


def test_a_record_rekeyed_at_the_source_is_reported_as_key_drift(accounting: NewRun,
                                                                 sqlite_db) -> None:  # type: ignore[no-untyped-def]
    _customers(sqlite_db.engine, "ACC1", "ACC2", "ACC3")
    extract(accounting(), "accounting")
    with sqlite_db.engine.begin() as conn:  # ACC2 is now ACC9: same company, same content
        conn.execute(accounting_db.customers_table.delete().where(
            accounting_db.customers_table.c.customer_no == "ACC2"))
    accounting_db.load(sqlite_db.engine, [{"customer_no": "ACC9", "company_name": "Firma ACC2",
                                           "updated_at": T0 + timedelta(hours=1)}])
    counts = extract(accounting(), "accounting")
    assert (counts["new"], counts["deleted_at_source"], counts["key_drift"]) == (1, 1, 1)
    assert sorted(_reviews(accounting())) == [("deleted_at_source", "ACC2", "open"),
                                              ("key_drift", "ACC9", "open")]
    assert extract(accounting(), "accounting").get("key_drift", 0) == 0  # asked once
