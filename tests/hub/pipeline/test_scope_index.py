"""The scope of an incremental reconcile found by index (hub.pipeline.scope.indexed_scope) is
the one the whole key frame gives (reconciliation.scope.scope_mask), round after round.

A generated estate (near twins, records without IČO) is staged, mapped and reconciled once;
then each round changes it: edits, a new company, a known company's record typed again without
identifiers, a deletion and its return, a key moved to another company's value, steward
decisions and an unlink, then nothing. Every plan computes the scope both ways and they must
hold the same rows; the incremental runs must leave the store as a full run would
(tests/hub/test_incremental_reconcile.py checks that part on the same rounds' kind).
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hub import review, xref_ops
from hub.config import HubConfig, load_config
from hub.pipeline import scope
from hub.pipeline.reconcile import reconcile_run
from hub.pipeline.runs import start_run
from hub.pipeline.stage import mark_deleted
from hub.pipeline.context import RunContext
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, MatchKey
from sandbox.generator import Options, generate
from tests.hub.store.test_query_plans import _plans, engine  # noqa: F401 - engine: a fixture
from tests.hub.test_incremental_reconcile import (Store, _hub_with, _metric, _reconciled_both_ways, _row, _seeded,
                                                  _stage)

pytestmark = pytest.mark.integration


class Compared:
    """Wraps indexed_scope: each call also computes the scope from the whole key frame."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.indexed = scope.indexed_scope
        self.calls: list[int | None] = []  # per plan: rows in the scope, None when it fell back
        monkeypatch.setattr(scope, "indexed_scope", self)

    def __call__(self, session: Any, ctx: Any, hubs: set[str], pairs: Any) -> pl.DataFrame | None:
        found = self.indexed(session, ctx, hubs, pairs)
        frame = scope.key_frame(session, ctx)
        whole = frame.filter(scope.scope_mask(frame, ctx.config.matching, hubs, pairs))
        self.calls.append(None if found is None else found.height)
        if found is not None:
            assert found.sort("system", "record_id").rows() == whole.sort("system", "record_id").rows()
        return found


def _keys(store: Store) -> int:
    with session_scope(store.engine) as session:
        return session.scalar(select(func.count()).select_from(MatchKey)) or 0


@pytest.mark.parametrize("limit", ["found by index", "falls back to the key frame"])
def test_the_scope_found_by_index_is_the_scope_of_the_whole_key_frame(
        store: Store, limit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if limit == "falls back to the key frame":
        monkeypatch.setattr(scope, "_MIN_LIMIT", 1)
        monkeypatch.setattr(scope, "_SCOPE_SHARE", 0.01)
    compared = Compared(monkeypatch)
    estate = generate(150, seed=3, options=Options(hard_negatives=0.1, without_ids=0.3))
    _seeded(store, estate)
    assert _keys(store) > 0  # the full run wrote every record's keys
    three = _hub_with(store.engine, {"crm", "accounting", "erp"})
    other = _hub_with(store.engine, {"crm", "accounting"})
    twin = _row(estate, "accounting", other["accounting"])

    # Round 1: edits, a new company, and a known company's account typed again without identifiers.
    ctx = store.ctx(start_run(store.engine, "nightly", run_id="r1"))
    edited = _row(estate, "crm", three["crm"]) | {"Street": "Nová 12", "Phone": "777123456"}
    again = {"AccountId": "CRM-NEW-1", "Name": twin["company_name"], "CompanyId": "", "VatId": "",
             "Street": twin["street"], "City": twin["city"], "PostalCode": twin["zip"], "CountryCode": "CZ",
             "Email": twin["email"], "Phone": twin["phone"]}
    new = {"AccountId": "CRM-NEW-2", "Name": "Zcela Nová s.r.o.", "CompanyId": "27074358", "VatId": "",
           "Street": "Dlouhá 1", "City": "Brno", "PostalCode": "60200", "CountryCode": "CZ",
           "Email": "info@zcelanova.cz", "Phone": "601000111"}
    _stage(ctx, "crm", [edited, again, new])
    _stage(ctx, "accounting", [twin | {"city": "Praha"}])
    _reconciled_both_ways(store, "r1")

    # Round 2: a deletion, and a key moved: an ERP partner takes another company's IČO.
    ctx = store.ctx(start_run(store.engine, "nightly", run_id="r2"))
    with session_scope(store.engine) as session:
        mark_deleted(session, "erp", [three["erp"]], ctx.run_id)
        moved_to = session.scalar(select(CanonicalRecord.values).where(
            CanonicalRecord.system == "crm", CanonicalRecord.record_id == other["crm"]))["company_id"]
    moving = next(r for r in estate.erp_partners if r["PARTNER_ID"] != three["erp"] and r["ICO"]
                  and r["ICO"] != moved_to)
    _stage(ctx, "erp", [dict(moving) | {"ICO": moved_to, "DIC": ""}])
    _reconciled_both_ways(store, "r2")

    # Round 3: a steward decides (a match, an unlink); the deleted record comes back.
    ctx = store.ctx(start_run(store.engine, "nightly", run_id="r3"))
    for item in review.list_items(store.engine, kind="match_candidate")[:2]:
        review.decide_match(store.engine, item.id, True, "steward", "same company")
    xref_ops.unlink(store.engine, "accounting", three["accounting"], "steward", "a branch, not the company")
    _stage(ctx, "erp", [_row(estate, "erp", three["erp"])])
    _reconciled_both_ways(store, "r3")

    # Round 4: nothing changed.
    start_run(store.engine, "nightly", run_id="r4")
    _reconciled_both_ways(store, "r4")
    assert _metric(store.engine, "r4", "reconsidered") == 0

    # One incremental plan a round (the clone's run is a full one: it finds no scope).
    assert len(compared.calls) == 4
    if limit == "found by index":
        assert all(n is not None for n in compared.calls) and compared.calls[-1] == 0
        assert compared.calls[0] > 0
    else:
        assert compared.calls[:3] == [None, None, None]


@pytest.fixture
def store(hub_config: HubConfig, hub_store_url: str) -> Store:
    return Store(hub_config, hub_store_url)


# -- what SQLite does with the lookups (it keeps no statistics: tests/hub/store/test_query_plans.py)

def test_the_records_of_hub_ids_and_of_keys_are_searched_by_index(engine: Engine,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTHUB_STORE_URL", str(engine.url))
    ctx = RunContext(load_config(), engine, "r1")
    wanted = pl.DataFrame({"kind": [0, 0], "key": [11, -12]}, schema={"kind": pl.Int32, "key": pl.Int64})

    def lookups(session: Session) -> None:
        found = scope._Found(session, ctx, 10)
        scope._grow(found, scope._key_query(ctx), ctx, {"hub_id": {"H1", "H2"}, "company_id": {"12345678"},
                                                       "vat_id": set()}, set())
        scope._candidates(found, scope._key_query(ctx), wanted)

    plans = _plans(engine, lookups)
    assert len(plans) == 3, plans
    assert not any("SCAN" in p for p in plans), plans
    assert "SEARCH xref USING INDEX ix_xref_hub_id (hub_id=?)" in plans[0], plans[0]
    assert all("SEARCH match_key USING PRIMARY KEY (kind=? AND key=?)" in p for p in plans[1:]), plans
