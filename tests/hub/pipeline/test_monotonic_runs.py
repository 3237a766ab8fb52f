"""Whole runs over the sandbox estate: an older version never wins, a dry run changes nothing
the next real run sees, and a source's doubled key is quarantined while the run goes on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from hub.config import HubConfig
from hub.pipeline.context import RunContext, metrics, open_store
from hub.pipeline.extract import extract
from hub.pipeline.map import map_system
from hub.pipeline.nightly import run_nightly
from hub.pipeline.publish import publish
from hub.pipeline.reconcile import reconcile_run
from hub.pipeline.report import build_report
from hub.pipeline.runs import finish_run, start_run
from hub.store.db import session_scope
from hub.store.models import (CanonicalRecord, Cursor, FileLedger, GoldenRecord, Outbox,
                              PreviewPage, Quarantine, SourceRecord, Xref)
from sandbox import accounting_db
from sandbox.estate import SandboxEstate

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _with(config: HubConfig, system: str, **settings: Any) -> HubConfig:
    block = config.systems[system]
    block = block.model_copy(update={"connector": {**block.connector, **settings}})
    return config.model_copy(update={"systems": {**config.systems, system: block}})


def _linked(engine: sa.Engine, system: str, other: str) -> tuple[str, str]:
    """A record of ``system`` whose company ``other`` also has: (record id, hub id)."""
    with session_scope(engine) as session:
        xrefs = session.scalars(select(Xref)).all()
    others = {x.hub_id for x in xrefs if x.system == other}
    return next((x.record_id, x.hub_id) for x in sorted(xrefs, key=lambda x: x.record_id)
                if x.system == system and x.hub_id in others)


def _golden(engine: sa.Engine, hub_id: str) -> dict[str, Any]:
    with session_scope(engine) as session:
        return session.scalar(select(GoldenRecord.values).where(
            GoldenRecord.hub_id == hub_id, GoldenRecord.is_current.is_(True)))


def _outbox(engine: sa.Engine, system: str, record_id: str) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        return [o.values for o in session.scalars(select(Outbox).where(
            Outbox.system == system, Outbox.record_id == record_id).order_by(Outbox.id))]


def _set_accounting(engine: sa.Engine, no: str, **values: Any) -> None:
    table = accounting_db.customers_table
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.customer_no == no).values(**values))


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_an_older_accounting_row_read_in_the_overlap_changes_no_golden_and_sends_nothing(
        hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    config = _with(hub_config, "accounting", overlap_seconds=3600)
    run_nightly(config)
    engine = open_store(config)
    no, hub_id = _linked(engine, "accounting", "erp")
    newer = _utc_now()
    _set_accounting(sandbox_estate.accounting, no, credit_limit=Decimal("250000"), updated_at=newer)
    run_nightly(config)
    assert Decimal(str(_golden(engine, hub_id)["credit_limit"])) == 250_000
    with session_scope(engine) as session:
        erp_ids = list(session.scalars(select(Xref.record_id).where(Xref.hub_id == hub_id,
                                                                   Xref.system == "erp")))
    sent = {i: _outbox(engine, "erp", i) for i in erp_ids}

    # the same row again, older: stamped a minute before the newer one, inside the overlap
    _set_accounting(sandbox_estate.accounting, no, credit_limit=Decimal("100000"),
                    updated_at=newer - timedelta(minutes=1))
    result = run_nightly(config)

    with session_scope(engine) as session:
        assert metrics(session, result.run_id)[("accounting", "stale")] == 1
        staged = session.scalar(select(SourceRecord).where(SourceRecord.system == "accounting",
                                                           SourceRecord.record_id == no))
    assert Decimal(str(staged.payload["credit_limit"])) == 250_000
    assert Decimal(str(_golden(engine, hub_id)["credit_limit"])) == 250_000
    assert {i: _outbox(engine, "erp", i) for i in erp_ids} == sent  # nothing new to the ERP
    report = build_report(RunContext(config, engine, result.run_id))
    assert {line.system: line.stale for line in report.systems}["accounting"] == 1


# -- dry runs -----------------------------------------------------------------------------------

def _store_state(engine: sa.Engine) -> dict[str, Any]:
    """Everything a later real run reads."""
    with session_scope(engine) as session:
        def rows(model: Any, *cols: Any) -> list[tuple]:
            return sorted(tuple(map(str, r)) for r in session.execute(select(*cols)))
        return {
            "cursor": {c.system: c.value for c in session.scalars(select(Cursor))},
            "source": rows(SourceRecord, SourceRecord.system, SourceRecord.record_id,
                           SourceRecord.content_hash, SourceRecord.source_version,
                           SourceRecord.deleted_at),
            "canonical": rows(CanonicalRecord, CanonicalRecord.system, CanonicalRecord.record_id,
                              CanonicalRecord.source_hash),
            "golden": rows(GoldenRecord, GoldenRecord.hub_id, GoldenRecord.version,
                           GoldenRecord.is_current),
            "xref": rows(Xref, Xref.system, Xref.record_id, Xref.hub_id, Xref.source_hash),
            "outbox": rows(Outbox, Outbox.idempotency_key, Outbox.status),
            "ledger": rows(FileLedger, FileLedger.system, FileLedger.content_hash),
            "quarantine": rows(Quarantine, Quarantine.system, Quarantine.record_key,
                               Quarantine.content_hash)}


def _backfill(config: HubConfig, window: tuple[datetime, datetime], *, dry_run: bool) -> str:
    """What the backfill DAG's tasks do, in order."""
    engine = open_store(config)
    ctx = RunContext(config, engine, start_run(engine, "backfill", interval=window,
                                               dry_run=dry_run))
    for system in config.enabled_systems():
        extract(ctx, system)
        map_system(ctx, system)
    reconcile_run(ctx)
    for system in config.enabled_systems():
        publish(ctx, system)
    finish_run(engine, ctx.run_id, "succeeded")
    return ctx.run_id


def test_a_backfill_dry_run_changes_nothing_the_next_real_run_sees(
        hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    run_nightly(hub_config)
    engine = open_store(hub_config)
    crm_id, hub_id = _linked(engine, "crm", "accounting")
    with session_scope(engine) as session:
        staged = session.scalar(select(SourceRecord).where(SourceRecord.system == "crm",
                                                           SourceRecord.record_id == crm_id))
    golden_name = _golden(engine, hub_id)["legal_name"]
    # The CRM gives an older version of the account again (restored from a backup) ...
    modified = datetime.fromisoformat(staged.payload["ModifiedAt"])
    sandbox_estate.crm.load([{**staged.payload, "Name": "Stará verze s.r.o.", "Version": 1,
                              "ModifiedAt": modified - timedelta(days=1)}])
    # ... and accounting has a real change the dry run will see too.
    acc_no = _linked(engine, "accounting", "crm")[0]
    _set_accounting(sandbox_estate.accounting, acc_no, phone="+420 777 000 111",
                    updated_at=_utc_now())
    partners = sandbox_estate.erp.partners()  # and the ERP tomorrow's file, one partner changed
    partners[0]["TELEFON"] = "+420 777 000 222"
    sandbox_estate.erp.load(partners)
    sandbox_estate.erp.export(date.today() + timedelta(days=1))
    before = _store_state(engine)
    export_dir = sandbox_estate.root / "erp" / "export"
    exports = sorted(p.name for p in export_dir.iterdir())

    window = (modified - timedelta(days=2), datetime.now(UTC) + timedelta(days=1))
    dry = _backfill(hub_config, window, dry_run=True)

    assert _store_state(engine) == before  # no cursor, no staging, no ledger, no golden
    assert sorted(p.name for p in export_dir.iterdir()) == exports  # left for the real run
    with session_scope(engine) as session:
        figures = metrics(session, dry)
        kept = session.scalar(select(sa.func.count()).select_from(PreviewPage))
    assert figures[("crm", "stale")] == 1 and figures[("accounting", "changed")] >= 1
    assert figures[("erp", "changed")] >= 1
    assert kept > 0  # what it read, aside, for its own steps only

    real = run_nightly(hub_config)
    with session_scope(engine) as session:
        assert metrics(session, real.run_id)[("accounting", "changed")] >= 1  # not skipped
        assert metrics(session, real.run_id)[("erp", "changed")] >= 1
        assert session.scalar(select(sa.func.count()).select_from(PreviewPage)) == 0
        crm_now = session.scalar(select(SourceRecord).where(SourceRecord.system == "crm",
                                                            SourceRecord.record_id == crm_id))
    assert crm_now.content_hash == staged.content_hash
    assert _golden(engine, hub_id)["legal_name"] == golden_name != "Stará verze s.r.o."


# -- duplicate keys -----------------------------------------------------------------------------

_OTHER_IBAN = "CZ6508000000192000145399"


def _double_in_view(engine: sa.Engine, no: str) -> None:
    """The view gives customer ``no`` twice: once as it is, once with another IBAN."""
    cols = ["customer_no", *accounting_db.VALUE_COLUMNS, "updated_at"]
    other = [f"'{_OTHER_IBAN}' AS iban" if c == "iban" else c for c in cols]
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP VIEW {accounting_db.VIEW}")
        conn.exec_driver_sql(
            f"CREATE VIEW {accounting_db.VIEW} AS SELECT {', '.join(cols)} FROM customers "
            f"UNION ALL SELECT {', '.join(other)} FROM customers WHERE customer_no = '{no}'")


def _quarantined(engine: sa.Engine, run_id: str, no: str) -> list[Quarantine]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Quarantine).where(
            Quarantine.system == "accounting", Quarantine.record_key == no,
            Quarantine.run_id == run_id)))


@pytest.mark.parametrize("chunk_size", [1000, 1], ids=["one_page", "across_pages"])
def test_a_key_the_view_gives_twice_is_quarantined_and_the_run_goes_on(
        hub_config: HubConfig, sandbox_estate: SandboxEstate, chunk_size: int) -> None:
    config = _with(hub_config, "accounting", chunk_size=chunk_size)
    no = sorted(r["customer_no"] for r in sandbox_estate.generated.accounting_rows)[3]
    _double_in_view(sandbox_estate.accounting, no)

    result = run_nightly(config)  # no IntegrityError: the run succeeds

    assert result.status == "succeeded"
    engine = open_store(config)
    held = _quarantined(engine, result.run_id, no)
    assert len(held) == 2 and all("duplicate key" in q.reason for q in held)
    assert {q.raw_payload.count(_OTHER_IBAN) for q in held} == {0, 1}  # both rows kept raw
    with session_scope(engine) as session:
        staged = set(session.scalars(select(SourceRecord.record_id).where(
            SourceRecord.system == "accounting")))
        linked = set(session.scalars(select(Xref.record_id).where(Xref.system == "accounting")))
        figures = metrics(session, result.run_id)
    others = {r["customer_no"] for r in sandbox_estate.generated.accounting_rows} - {no}
    broken = {r for s, r in sandbox_estate.generated.truth.broken if s == "accounting"}
    assert staged == others and linked == others - broken  # the rest staged and reconciled
    assert figures[("accounting", "duplicate_key")] == 2
    assert _outbox(engine, "accounting", no) == []
    report = build_report(RunContext(config, engine, result.run_id))
    assert no in {q["record_key"] for q in report.quarantine}


def test_a_key_doubled_later_keeps_its_staged_record_and_gets_no_correction(
        hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    config = _with(hub_config, "accounting", chunk_size=1, full_scan_every_days=0)
    run_nightly(config)
    engine = open_store(config)
    no, _ = _linked(engine, "accounting", "crm")
    with session_scope(engine) as session:
        before = session.scalar(select(SourceRecord.content_hash).where(
            SourceRecord.system == "accounting", SourceRecord.record_id == no))
    corrections = _outbox(engine, "accounting", no)
    _double_in_view(sandbox_estate.accounting, no)

    result = run_nightly(config)  # a full comparison reads both rows, pages apart

    assert result.status == "succeeded" and len(_quarantined(engine, result.run_id, no)) == 2
    with session_scope(engine) as session:
        after = session.scalar(select(SourceRecord.content_hash).where(
            SourceRecord.system == "accounting", SourceRecord.record_id == no))
    assert after == before and _outbox(engine, "accounting", no) == corrections
