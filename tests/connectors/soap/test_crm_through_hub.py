"""The CRM connector driven by the hub's own steps (extract, publish) over loopback sockets:
nothing staged twice, nothing lost when a run dies mid-way, conflicts kept as refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connectors.errors import SecurityError, TransientError
from core.clock import utcnow
from hub.pipeline.context import RunContext
from hub.pipeline.extract import extract
from hub.pipeline.publish import publish
from hub.pipeline.runs import start_run
from hub.store.db import session_scope
from hub.store.models import Cursor, Outbox, ReviewItem, SourceRecord
from tests.fixtures.soap import FAST_RETRY, airflow_conn_env, hub_context

pytestmark = pytest.mark.integration

SAME_SECOND = "2024-05-01T10:00:00Z"
N = 10


def _accounts(n: int, modified_at: str = SAME_SECOND) -> list[dict]:
    return [{"AccountId": f"CRM-{i:06d}", "Name": f"Firma {i} s.r.o.", "CountryCode": "CZ",
             "City": "Praha", "ModifiedAt": modified_at} for i in range(n)]


@pytest.fixture
def ctx(tmp_path, monkeypatch, crm_conn) -> RunContext:
    airflow_conn_env(monkeypatch, "custhub_crm", crm_conn)
    return hub_context(tmp_path, monkeypatch, {"crm": {"page_size": 3, "retry_attempts": 2,
                                                       **FAST_RETRY}})


def _staged(ctx: RunContext) -> dict[str, str]:
    with session_scope(ctx.engine) as session:
        return {s.record_id: s.run_id for s in session.scalars(
            select(SourceRecord).where(SourceRecord.system == "crm"))}


def _next_run(ctx: RunContext) -> RunContext:
    return RunContext(ctx.config, ctx.engine, start_run(ctx.engine, "test"))


def test_a_second_run_restages_nothing_unchanged(ctx, crm_service):
    crm_service.load(_accounts(N))
    first = extract(ctx, "crm")
    assert (first["new"], first["extracted"]) == (N, N)
    second = extract(_next_run(ctx), "crm")
    # Closed start: the boundary second is read again, and every record in it is unchanged.
    assert second.get("new", 0) == second.get("changed", 0) == 0
    assert second["unchanged"] == N
    assert set(_staged(ctx).values()) == {ctx.run_id}


def test_two_records_of_one_second_changed_between_runs_are_both_staged(ctx, crm_service):
    crm_service.load(_accounts(N))
    extract(ctx, "crm")
    crm_service.store.upsert({"AccountId": "CRM-000001", "City": "Brno"}, 1)
    crm_service.store.upsert({"AccountId": "CRM-000007", "City": "Brno"}, 1)
    later = _next_run(ctx)
    assert extract(later, "crm")["changed"] == 2
    runs = _staged(ctx)
    assert {k for k, run in runs.items() if run == later.run_id} == {"CRM-000001", "CRM-000007"}


def test_a_run_killed_mid_way_loses_and_doubles_nothing(ctx, crm_service):
    crm_service.load(_accounts(N))
    crm_service.fail_next(None, None, "http500", "http500")  # pages 1-2 pass, page 3 dies
    with pytest.raises(TransientError):
        extract(ctx, "crm")
    assert len(_staged(ctx)) == 6  # exactly the two stored pages
    with session_scope(ctx.engine) as session:
        assert session.get(Cursor, "crm").value["key"] == "CRM-000005"
    resumed = extract(_next_run(ctx), "crm")
    assert resumed["new"] == N - 6
    with session_scope(ctx.engine) as session:
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == N


def test_an_unsafe_page_is_refused_and_nothing_of_it_is_stored(ctx, crm_service):
    crm_service.load(_accounts(N))
    crm_service.fail_next(None, "entity_bomb")
    with pytest.raises(SecurityError):
        extract(ctx, "crm")
    assert sorted(_staged(ctx)) == ["CRM-000000", "CRM-000001", "CRM-000002"]


def test_publish_keeps_a_conflict_as_a_refusal_with_its_reason(ctx, crm_service):
    crm_service.load(_accounts(1))
    crm_service.store.upsert({"AccountId": "CRM-000000", "City": "Plzeň"}, 1)  # a person's edit
    with session_scope(ctx.engine) as session:
        session.add(Outbox(idempotency_key="k-1", run_id=ctx.run_id, system="crm",
                           record_id="CRM-000000", hub_id="H00000001", values={"city": "Brno"},
                           expected_version="1", status="pending", attempts=0,
                           created_at=utcnow()))
    assert publish(ctx, "crm").get("refused") == 1
    with session_scope(ctx.engine) as session:
        row = session.scalar(select(Outbox).where(Outbox.idempotency_key == "k-1"))
        assert row.status == "refused" and row.error.startswith("conflict: changed in the CRM")
        [item] = session.scalars(select(ReviewItem))  # a steward decides which value is right
        assert (item.kind, item.hub_id, item.record_id, item.field) == ("conflict", "H00000001", "CRM-000000", "city")
        assert item.candidates == {"golden": "Brno", "crm": "changed at the source"}
    [account] = crm_service.accounts()
    assert (account["City"], account["Version"]) == ("Plzeň", 2)


@pytest.mark.parametrize("batch", [1, 5, 200])
def test_one_refusal_in_a_batch_leaves_the_others_sent_whatever_the_batch_size(
        tmp_path, monkeypatch, crm_conn, crm_service, batch):
    airflow_conn_env(monkeypatch, "custhub_crm", crm_conn)
    ctx = hub_context(tmp_path, monkeypatch, {"crm": {"write_batch_size": batch, **FAST_RETRY}})
    crm_service.load(_accounts(12))
    crm_service.store.upsert({"AccountId": "CRM-000006", "City": "Plzeň"}, 1)  # a person's edit
    with session_scope(ctx.engine) as session:
        session.add_all(Outbox(idempotency_key=f"k-{i}", run_id=ctx.run_id, system="crm",
                               record_id=f"CRM-{i:06d}", hub_id=f"H{i:08d}", values={"city": "Brno"},
                               expected_version="1", status="pending", attempts=0,
                               created_at=utcnow()) for i in range(12))
    assert publish(ctx, "crm") == {"sent": 11, "refused": 1}
    with session_scope(ctx.engine) as session:
        rows = {r.idempotency_key: (r.status, r.attempts, r.attempt_id is not None, r.sent_at is not None)
                for r in session.scalars(select(Outbox))}
        refused = session.scalar(select(Outbox).where(Outbox.status == "refused"))
        assert [i.record_id for i in session.scalars(select(ReviewItem))] == ["CRM-000006"]
    assert rows == {f"k-{i}": ("refused", 1, True, False) if i == 6 else ("sent", 1, True, True)
                    for i in range(12)}
    assert refused.error.startswith("conflict: changed in the CRM")
    assert {a["AccountId"]: a["City"] for a in crm_service.accounts()} == {
        f"CRM-{i:06d}": "Plzeň" if i == 6 else "Brno" for i in range(12)}
    assert publish(_next_run(ctx), "crm") == {}  # nothing sent twice


def test_rows_in_flight_settle_by_what_the_crm_holds_and_the_rest_go_once(ctx, crm_service):
    from datetime import timedelta

    from hub.pipeline.publish import settle_in_flight

    crm_service.load(_accounts(3))
    crm_service.store.upsert({"AccountId": "CRM-000001", "City": "Brno"}, 1)  # arrived; crash
    claimed = utcnow() - timedelta(minutes=1)
    with session_scope(ctx.engine) as session:
        session.add_all(Outbox(idempotency_key=f"k-{i}", run_id=ctx.run_id, system="crm",
                               record_id=f"CRM-{i:06d}", hub_id=f"H{i:08d}", values={"city": "Brno"},
                               expected_version="1", status="sending", attempts=1,
                               attempt_id="dead-attempt", claimed_at=claimed, created_at=claimed)
                        for i in range(3))
    assert settle_in_flight(ctx, "crm") == {"sent": 1, "released": 2}
    with session_scope(ctx.engine) as session:
        assert {r.idempotency_key: r.status for r in session.scalars(select(Outbox))} == {
            "k-0": "pending", "k-1": "sent", "k-2": "pending"}
    assert publish(_next_run(ctx), "crm") == {"sent": 2}
    assert {a["AccountId"]: (a["City"], a["Version"]) for a in crm_service.accounts()} == {
        f"CRM-{i:06d}": ("Brno", 2) for i in range(3)}  # each applied once
