"""An incremental reconcile leaves the store exactly as a full one would (docs/adr/0005).

A generated estate (near twins, records without IČO) is staged and mapped as the nightly
path does, reconciled once, then changed round by round: edits, a new record of a known
company without identifiers, a deletion and its return, a registry change, a conflict, a
steward's choice, match decision and unlink. Before each round's reconcile the store is
cloned; the store runs incrementally, the clone runs a full reconcile with the same run id
and the same match model, and every table the run writes must come out the same.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, select

from connectors.base import Page, RawRecord
from hub import review, xref_ops
from hub.config import HubConfig
from hub.pipeline import linking
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.map import map_system
from hub.pipeline.reconcile import reconcile_run
from hub.pipeline.runs import start_run
from hub.pipeline.stage import mark_deleted, stage_page
from hub.store.db import session_scope
from hub.store.models import (Discrepancy, GoldenRecord, Outbox, ReviewItem, RunMetric, StewardDecision,
                              Xref)
from mappings.engine import load_spec
from sandbox.generator import Estate, Options, generate
from tests.fixtures.databases import PG_ADMIN_URL, _unique_name
from tests.fixtures.hubstore import put

pytestmark = pytest.mark.integration
SYSTEMS = {"crm": "crm_accounts", "accounting": "accounting_rows", "erp": "erp_partners"}


class Store:
    """The hub store under test, and clones of it taken before a run."""

    def __init__(self, config: HubConfig, url: str) -> None:
        self.config, self.url = config, url
        self.engine = open_store(config)

    def ctx(self, run_id: str, engine: Engine | None = None) -> RunContext:
        return RunContext(self.config, engine or self.engine, run_id)

    @contextmanager
    def clone(self) -> Iterator[Engine]:
        self.engine.dispose()
        url = sa.make_url(self.url)
        if url.get_backend_name() == "sqlite":
            copy = Path(str(url.database)).with_suffix(".clone.db")
            with sqlite3.connect(str(url.database)) as source, sqlite3.connect(copy) as target:
                source.backup(target)  # with what the write-ahead log holds
            engine = sa.create_engine(url.set(database=str(copy)))
            yield engine
            engine.dispose()
            return
        admin, name = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT"), _unique_name()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')
        engine = sa.create_engine(url.set(database=name))
        try:
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def _text(row: dict[str, Any]) -> dict[str, Any]:
    return {k: None if v is None else str(v) for k, v in row.items()}


def _stage(ctx: RunContext, system: str, rows: list[dict[str, Any]]) -> None:
    record_id = load_spec(ctx.config.systems[system].mapping).record_id
    records = [RawRecord(str(r[record_id]), _text(r)) for r in rows]
    with session_scope(ctx.engine) as session:
        stage_page(session, system, Page(records=records, cursor=None), ctx.run_id)
    map_system(ctx, system)


def _ares(engine: Engine, estate: Estate, run_id: str, count: int, renamed: str | None = None) -> None:
    for c in [c for c in estate.registry if c.company_id][:count]:
        put(engine, "ares", c.company_id, {
            "company_id": c.company_id, "legal_name": renamed if renamed and c is estate.registry[0] else c.name,
            "street": c.street, "city": c.city, "postal_code": c.postal_code, "country": c.country,
            "registry_status": "active"}, run_id)


def _seeded(store: Store, estate: Estate) -> None:
    ctx = store.ctx(start_run(store.engine, "nightly", run_id="r0"))
    for system, attribute in SYSTEMS.items():
        _stage(ctx, system, getattr(estate, attribute))
    _ares(store.engine, estate, ctx.run_id, 40)
    reconcile_run(ctx)


def _state(engine: Engine, run_id: str) -> dict[str, Any]:
    """Every table a reconcile writes, as comparable values (no surrogate ids, no timestamps)."""
    with session_scope(engine) as session:
        def rows(query: Any) -> list[tuple[Any, ...]]:
            return sorted((tuple(str(v) for v in row) for row in session.execute(query)))
        return {
            "xref": rows(select(Xref.system, Xref.record_id, Xref.hub_id, Xref.rule, Xref.run_id, Xref.source_hash,
                                Xref.source_deleted)),
            "golden": rows(select(GoldenRecord.hub_id, GoldenRecord.version, GoldenRecord.values,
                                  GoldenRecord.lineage, GoldenRecord.run_id).where(GoldenRecord.is_current.is_(True))),
            "versions": rows(select(GoldenRecord.hub_id, GoldenRecord.version, GoldenRecord.is_current)),
            "outbox": rows(select(Outbox.idempotency_key, Outbox.run_id, Outbox.system, Outbox.record_id,
                                  Outbox.hub_id, Outbox.values, Outbox.status, Outbox.expected_version)),
            "discrepancies": rows(select(*[c for c in Discrepancy.__table__.columns if c.name != "id"])
                                  .where(Discrepancy.run_id == run_id)),
            "questions": rows(select(ReviewItem.kind, ReviewItem.fingerprint, ReviewItem.hub_id, ReviewItem.status,
                                     ReviewItem.field, ReviewItem.candidates, ReviewItem.run_id)),
            "decisions": rows(select(StewardDecision.id, StewardDecision.expired_at.is_(None))),
            "metrics": rows(select(RunMetric.system, RunMetric.metric, RunMetric.value).where(
                RunMetric.run_id == run_id, RunMetric.metric.notin_(["reconsidered", "full_reconcile"]))),
        }


def _reconciled_both_ways(store: Store, run_id: str) -> dict[str, Any]:
    """Reconcile the store incrementally and a clone fully; both must end the same."""
    with store.clone() as clone:
        reconcile_run(store.ctx(run_id, clone), full=True, retrain=False)
        full = _state(clone, run_id)
    reconcile_run(store.ctx(run_id))
    assert _metric(store.engine, run_id, "full_reconcile") == 0
    incremental = _state(store.engine, run_id)
    for table in full:
        assert incremental[table] == full[table], table
    return incremental


def _metric(engine: Engine, run_id: str, metric: str) -> int:
    with session_scope(engine) as session:
        return session.get(RunMetric, (run_id, "hub", metric)).value


def _hub_with(engine: Engine, systems: set[str]) -> dict[str, str]:
    """A hub id's record per system, for a hub id with exactly one record of each of ``systems``."""
    by_hub: dict[str, dict[str, list[str]]] = {}
    with session_scope(engine) as session:
        for x in session.scalars(select(Xref).order_by(Xref.hub_id, Xref.system)):
            by_hub.setdefault(x.hub_id, {}).setdefault(x.system, []).append(x.record_id)
    for hub_id, found in by_hub.items():
        if set(found) == systems and all(len(v) == 1 for v in found.values()):
            return {"hub": hub_id, **{s: v[0] for s, v in found.items()}}
    raise AssertionError(f"no hub id with one record of each of {systems}")


def _row(estate: Estate, system: str, record_id: str) -> dict[str, Any]:
    key = load_spec(system).record_id
    return dict(next(r for r in getattr(estate, SYSTEMS[system]) if str(r[key]) == record_id))


@pytest.fixture
def store(hub_config: HubConfig, hub_store_url: str) -> Store:
    return Store(hub_config, hub_store_url)


@pytest.mark.parametrize("few_keys", ["in lists", "temporary table"])
def test_each_incremental_run_leaves_the_store_as_a_full_run_would(store: Store, few_keys: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    if few_keys == "temporary table":  # a scope is read by a join to its keys, as a large one is
        monkeypatch.setattr(linking, "_FEW_KEYS", 0)
    estate = generate(150, seed=3, options=Options(hard_negatives=0.1, without_ids=0.3))
    _seeded(store, estate)
    three = _hub_with(store.engine, {"crm", "accounting", "erp"})
    other = _hub_with(store.engine, {"crm", "accounting"})

    # Round 1: edits, and a new CRM account of a known company typed without identifiers.
    ctx = store.ctx(start_run(store.engine, "nightly", run_id="r1"))
    edited = _row(estate, "crm", three["crm"]) | {"Street": "Nová 12", "Phone": "777123456"}
    twin = _row(estate, "accounting", other["accounting"])
    newcomer = {"AccountId": "CRM-NEW-1", "Name": twin["company_name"], "CompanyId": "", "VatId": "",
                "Street": twin["street"], "City": twin["city"], "PostalCode": twin["zip"], "CountryCode": "CZ",
                "Email": twin["email"], "Phone": twin["phone"]}
    _stage(ctx, "crm", [edited, newcomer])
    _stage(ctx, "accounting", [twin | {"city": "Praha"}])
    first = _reconciled_both_ways(store, "r1")
    assert 0 < _metric(store.engine, "r1", "reconsidered") < len(first["xref"])

    # Round 2: a deletion, a registry change, and a conflict (two trusted sources, two e-mails).
    ctx = store.ctx(start_run(store.engine, "nightly", run_id="r2"))
    with session_scope(store.engine) as session:
        mark_deleted(session, "erp", [three["erp"]], ctx.run_id)
    _ares(store.engine, estate, ctx.run_id, 40, renamed="Přejmenovaná a.s.")
    _stage(ctx, "crm", [_row(estate, "crm", other["crm"]) | {"Email": "crm@jinak.cz"}])
    _stage(ctx, "accounting", [twin | {"city": "Praha", "email": "ucetni@jinak.cz"}])
    _reconciled_both_ways(store, "r2")

    # Round 3: a steward decides: the conflict, an unlink; the deleted record comes back.
    ctx = store.ctx(start_run(store.engine, "nightly", run_id="r3"))
    for item in review.list_items(store.engine, kind="conflict"):
        review.resolve_conflict(store.engine, item.id, "steward@firma.cz", "steward", "called them")
    for item in review.list_items(store.engine, kind="match_candidate")[:2]:
        review.decide_match(store.engine, item.id, True, "steward", "same company")
    xref_ops.unlink(store.engine, "accounting", three["accounting"], "steward", "a branch, not the company")
    _stage(ctx, "erp", [_row(estate, "erp", three["erp"])])
    _reconciled_both_ways(store, "r3")

    # Round 4: nothing changed.
    start_run(store.engine, "nightly", run_id="r4")
    _reconciled_both_ways(store, "r4")


def test_a_run_where_nothing_changed_reconsiders_nothing_and_touches_no_golden_record(store: Store) -> None:
    estate = generate(60, seed=4, options=Options(hard_negatives=0.1, without_ids=0.3))
    _seeded(store, estate)
    before = _state(store.engine, "r0")
    reconcile_run(store.ctx(start_run(store.engine, "nightly", run_id="r1")))
    after = _state(store.engine, "r1")
    assert _metric(store.engine, "r1", "reconsidered") == 0
    assert _metric(store.engine, "r1", "full_reconcile") == 0
    assert (after["xref"], after["versions"], after["outbox"]) == (before["xref"], before["versions"], before["outbox"])
    assert [d[1:] for d in after["discrepancies"]] == [d[1:] for d in before["discrepancies"]]


def test_a_full_run_is_made_when_asked_for_and_when_the_rules_change(store: Store) -> None:
    estate = generate(30, seed=5)
    _seeded(store, estate)
    reconcile_run(store.ctx(start_run(store.engine, "nightly", run_id="r1")), full=True)
    assert _metric(store.engine, "r1", "full_reconcile") == 1
    changed = store.config.model_copy(update={"matching": store.config.matching.model_copy(
        update={"max_block_size": 299})})
    reconcile_run(RunContext(changed, store.engine, start_run(store.engine, "nightly", run_id="r2")))
    assert _metric(store.engine, "r2", "full_reconcile") == 1
    reconcile_run(RunContext(changed, store.engine, start_run(store.engine, "nightly", run_id="r3")))
    assert _metric(store.engine, "r3", "full_reconcile") == 0
