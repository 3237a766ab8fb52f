"""The review queue's service functions (which the CLI and the web page call) over a real store."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from hub import review, xref_ops
from hub.pipeline.reconcile import reconcile_run
from hub.store.db import session_scope
from core.clock import utcnow
from hub.store.models import AuditEntry, Discrepancy, ReviewItem, StewardDecision
from tests.fixtures.hubstore import company, hub_of, new_run, open_seeded, put, store_config


def _audit(engine) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return [(a.actor, a.action, a.reason or "") for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_two_sources_changing_a_field_differently_is_a_conflict_a_steward_resolves(tmp_path: Path) -> None:
    config = store_config(tmp_path)
    engine = open_seeded(config, 3)
    reconcile_run(new_run(config, engine))
    hub_id = hub_of(engine, "crm", "crm-1")
    put(engine, "crm", "crm-1", company(1, street="Nová 1"))
    put(engine, "accounting", "accounting-1", company(1, street="Stará 9"))
    ctx = new_run(config, engine)
    reconcile_run(ctx)
    [item] = review.list_items(engine, kind="conflict")
    assert (item.hub_id, item.field) == (hub_id, "street")
    assert item.candidates == {"crm:crm-1": "Nová 1", "accounting:accounting-1": "Stará 9", "golden": "Ulice 1"}
    assert xref_ops.golden_at(engine, hub_id).values["street"] == "Ulice 1"  # held, not guessed
    with session_scope(engine) as session:
        corrected = session.scalars(select(Discrepancy).where(Discrepancy.run_id == ctx.run_id,
                                                              Discrepancy.field == "street")).all()
        assert corrected and not any(d.corrected for d in corrected)

    review.resolve_conflict(engine, item.id, "Stará 9", "eva", "confirmed by phone")
    reconcile_run(new_run(config, engine))
    golden = xref_ops.golden_at(engine, hub_id)
    assert golden.values["street"] == "Stará 9" and golden.lineage["street"]["rule"] == "steward"
    assert review.get_item(engine, item.id).status == "resolved"
    assert _audit(engine)[-1] == ("eva", "decide", "confirmed by phone")

    put(engine, "crm", "crm-1", company(1, street="Třetí 3"))  # the source moves on: the decision expires
    reconcile_run(new_run(config, engine))
    assert xref_ops.golden_at(engine, hub_id).values["street"] == "Třetí 3"
    with session_scope(engine) as session:
        assert session.scalar(select(StewardDecision).where(StewardDecision.kind == "choose_value")).expired_at


def test_a_resolved_item_cannot_be_resolved_again(tmp_path: Path) -> None:
    config = store_config(tmp_path)
    engine = open_seeded(config, 2)
    reconcile_run(new_run(config, engine))
    put(engine, "crm", "crm-0", company(0, city="Praha"))
    put(engine, "accounting", "accounting-0", company(0, city="Ostrava"))
    reconcile_run(new_run(config, engine))
    [item] = review.list_items(engine)
    review.dismiss(engine, item.id, "eva", "will ask the customer")
    with pytest.raises(review.ReviewError, match="already dismissed"):
        review.resolve_conflict(engine, item.id, "Praha", "eva", "too late")


def test_xref_operations_move_records_and_leave_an_audit_trail(tmp_path: Path) -> None:
    config = store_config(tmp_path)
    engine = open_seeded(config, 3)
    reconcile_run(new_run(config, engine))
    h0, h1 = hub_of(engine, "crm", "crm-0"), hub_of(engine, "crm", "crm-1")
    moved = xref_ops.merge(engine, h0, h1, "eva", "one company, two IČO by mistake")
    assert moved == 2 and hub_of(engine, "accounting", "accounting-1") == h0
    new_id = xref_ops.split(engine, h0, [("crm", "crm-1"), ("accounting", "accounting-1")], "eva", "undo")
    assert hub_of(engine, "crm", "crm-1") == new_id != h0
    lone = xref_ops.unlink(engine, "crm", "crm-2", "petr", "a branch, not the company")
    xref_ops.link(engine, "crm", "crm-2", hub_of(engine, "accounting", "accounting-2"), "petr", "it was")
    assert hub_of(engine, "crm", "crm-2") != lone
    reconcile_run(new_run(config, engine))  # a rule never undoes a steward's placement
    assert hub_of(engine, "crm", "crm-1") == new_id
    assert xref_ops.golden_at(engine, h1) is None  # merged away: retired, its history kept
    assert len(xref_ops.golden_history(engine, h1)) == 1
    assert [a[:2] for a in _audit(engine)] == [("eva", "merge"), ("eva", "split"), ("petr", "unlink"),
                                               ("petr", "link")]


def test_a_match_decision_merges_and_a_not_a_match_is_remembered(tmp_path: Path) -> None:
    config = store_config(tmp_path)
    engine = open_seeded(config, 1)
    reconcile_run(new_run(config, engine))
    with session_scope(engine) as session:
        item = ReviewItem(kind="match_candidate", fingerprint="q1", hub_id=hub_of(engine, "crm", "crm-0"),
                          system="crm", record_id="crm-0", other_system="accounting",
                          other_record_id="accounting-0", candidates={"material": ["legal_name"]},
                          reason="review band", run_id="r", created_at=utcnow())
        session.add(item)
        session.flush()
        item_id = item.id
    review.decide_match(engine, item_id, False, "eva", "different branch")
    with session_scope(engine) as session:
        decision = session.scalar(select(StewardDecision).where(StewardDecision.kind == "not_match"))
        assert (decision.record_a, decision.record_b) == ("crm:crm-0", "accounting:accounting-0")
        assert decision.fingerprint
