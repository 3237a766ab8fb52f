"""Reconcile over the store: incremental matching, golden history, guards, dry runs, approval."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from hub import review
from hub.pipeline.publish import publish
from hub.pipeline.reconcile import reconcile, reconcile_run
from hub.pipeline.runs import run_status
from hub.store.db import session_scope
from core.clock import utcnow
from hub.store.models import Outbox, Run, RunMetric, SourceRecord
from hub.xref_ops import golden_at, golden_history
from tests.fixtures.hubstore import company, golden_versions, hub_of, new_run, open_seeded, put, store_config


def test_the_first_run_creates_every_golden_record_without_tripping_the_change_guard(tmp_path: Path) -> None:
    config = store_config(tmp_path, max_golden_change_share=0.1, min_golden_records=5)
    engine = open_seeded(config, 20)
    result = reconcile_run(new_run(config, engine))
    assert result.held is None and result.applied
    assert (result.counts["golden_created"], result.counts["golden_changed_existing"]) == (20, 0)


def test_hub_ids_are_stable_and_a_new_record_joins_its_company(tmp_path: Path) -> None:
    config = store_config(tmp_path)
    engine = open_seeded(config, 5)
    reconcile_run(new_run(config, engine))
    before = hub_of(engine, "crm", "crm-3")
    put(engine, "erp", "erp-3", company(3, street=None))  # new, same IČO
    put(engine, "crm", "crm-3", company(3, email="sales@firma3.cz"))  # changed content
    reconcile_run(new_run(config, engine))
    assert hub_of(engine, "crm", "crm-3") == hub_of(engine, "erp", "erp-3") == before


def test_every_change_is_a_new_version_and_any_past_state_can_be_read(tmp_path: Path) -> None:
    config = store_config(tmp_path)
    engine = open_seeded(config, 3)
    reconcile_run(new_run(config, engine))
    hub_id = hub_of(engine, "crm", "crm-1")
    first = golden_at(engine, hub_id)
    put(engine, "crm", "crm-1", company(1, street="Nová 5"))
    reconcile_run(new_run(config, engine))
    history = golden_history(engine, hub_id)
    assert [v.version for v in history] == [1, 2]
    assert golden_at(engine, hub_id, version=1).values["street"] == "Ulice 1"
    assert golden_at(engine, hub_id, at=first.created_at).values["street"] == "Ulice 1"
    assert golden_at(engine, hub_id).values["street"] == "Nová 5"
    assert golden_at(engine, hub_id).lineage["street"]["source"] == "crm"


def test_a_dry_run_computes_everything_and_writes_nothing_back(tmp_path: Path) -> None:
    config = store_config(tmp_path)
    engine = open_seeded(config, 4)
    reconcile_run(new_run(config, engine))
    put(engine, "crm", "crm-2", company(2, street="Nová 5"))
    versions = golden_versions(engine)
    ctx = new_run(config, engine, dry_run=True)
    result = reconcile_run(ctx)
    assert not result.applied
    assert (hub_of(engine, "crm", "crm-2"), "street", "Ulice 2", "Nová 5") in [
        (h, f, old, new) for h, f, old, new in result.changes]
    assert golden_versions(engine) == versions
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Outbox)) == 0
        assert session.get(RunMetric, (ctx.run_id, "accounting", "would_send")).value == 1


def test_a_run_changing_too_many_golden_records_waits_for_approval(tmp_path: Path) -> None:
    config = store_config(tmp_path, max_golden_change_share=0.25, min_golden_records=5)
    engine = open_seeded(config, 10)
    reconcile_run(new_run(config, engine))
    for i in range(5):
        put(engine, "crm", f"crm-{i}", company(i, street=f"Jinde {i}"))
    versions = golden_versions(engine)
    ctx = new_run(config, engine)
    figures = reconcile(ctx)
    assert figures["held"] == 1 and run_status(engine, ctx.run_id) == "awaiting_approval"
    assert golden_versions(engine) == versions
    assert publish(ctx, "accounting") == {}  # a held run sends nothing
    review.approve_run(engine, ctx.run_id, "eva", "the move of five branches is real")
    after = reconcile_run(ctx)
    assert after.applied and after.counts["golden_changed_existing"] == 5
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Outbox).where(Outbox.system == "accounting")) == 5


def test_a_source_that_shrank_stops_the_run(tmp_path: Path) -> None:
    config = store_config(tmp_path, max_source_shrink_share=0.2)
    engine = open_seeded(config, 10)
    first = new_run(config, engine)
    reconcile(first)
    with session_scope(engine) as session:
        session.get(Run, first.run_id).status = "succeeded"
        for row in session.scalars(select(SourceRecord).where(SourceRecord.system == "crm")).all()[:4]:
            row.deleted_at = utcnow()
    result = reconcile_run(new_run(config, engine))
    assert result.held is not None and "crm shrank from 10 to 6" in result.held


def _delete_at_source(engine, system: str, record_id: str) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        session.scalar(select(SourceRecord).where(SourceRecord.system == system,
                                                  SourceRecord.record_id == record_id)).deleted_at = utcnow()


def test_a_record_deleted_at_its_source_no_longer_speaks_for_the_company(tmp_path: Path) -> None:
    config = store_config(tmp_path)
    engine = open_seeded(config, 2)
    put(engine, "accounting", "accounting-0", company(0, legal_name="Firma 0 a.s.", street="Stará 1"))
    reconcile_run(new_run(config, engine))
    h0, h1 = hub_of(engine, "crm", "crm-0"), hub_of(engine, "crm", "crm-1")
    assert golden_at(engine, h0).values["legal_name"] == "Firma 0 a.s."  # accounting comes first
    _delete_at_source(engine, "accounting", "accounting-0")
    _delete_at_source(engine, "crm", "crm-1")
    _delete_at_source(engine, "accounting", "accounting-1")
    ctx = new_run(config, engine)
    reconcile_run(ctx)
    assert golden_at(engine, h0).values["legal_name"] == "Firma 0 s.r.o."
    assert hub_of(engine, "accounting", "accounting-0") == h0  # kept: it may come back
    assert golden_at(engine, h1) is not None and len(golden_history(engine, h1)) == 1  # kept as it was
    with session_scope(engine) as session:
        assert not session.scalars(select(Outbox).where(Outbox.run_id == ctx.run_id)).all()


def test_a_correction_skipped_for_a_deleted_record_is_sent_once_the_record_is_back(tmp_path: Path) -> None:
    config = store_config(tmp_path)
    engine = open_seeded(config, 1)
    put(engine, "crm", "crm-0", company(0, street="Nová 1"))
    reconcile_run(new_run(config, engine))
    with session_scope(engine) as session:
        row = session.scalar(select(Outbox).where(Outbox.record_id == "accounting-0"))
        row.status = "skipped_deleted"  # publish met the record deleted; it has come back since
    reconcile_run(new_run(config, engine))
    with session_scope(engine) as session:
        assert [r.status for r in session.scalars(select(Outbox))] == ["pending"]
