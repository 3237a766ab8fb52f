"""Stage and map over the hub store, on SQLite and PostgreSQL: what each record did, what
the store keeps, and that the result does not depend on the batch size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from connectors.base import Page, RawRecord, RejectedRow
from core.clock import utcnow
from hub.config import HubConfig, MappingRunConfig
from hub.pipeline import map as map_step
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.map import map_system
from hub.pipeline.runs import start_run
from hub.pipeline.stage import DELETED, stage_page
from hub.pipeline.staging import Staging
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, Quarantine, ReviewItem, SourceRecord, Xref
from tests.mappings.payloads import crm_account

pytestmark = pytest.mark.integration


@pytest.fixture
def store(hub_config: HubConfig) -> Iterator[Engine]:
    engine = open_store(hub_config)
    yield engine
    engine.dispose()


def _run(config: HubConfig, engine: Engine) -> RunContext:
    return RunContext(config, engine, start_run(engine, "nightly"))


def _account(i: int, version: str | None = None, **changes: Any) -> RawRecord:
    """A CRM account; ``version``: the record's version when it is not the payload's."""
    payload = crm_account(AccountId=f"CRM-{i:04d}", Name=f"Firma {i}\tš \\ \"s.r.o.\"", CompanyId=None,
                          VatId=None, **changes)
    return RawRecord(payload["AccountId"], payload, version=version or str(payload["Version"]))


def _stage(ctx: RunContext, staging: Staging, *records: RawRecord, rejects: tuple[RejectedRow, ...] = ()
           ) -> Counter[str]:
    with session_scope(ctx.engine) as session:
        return staging.page(session, Page(records=list(records), cursor=None, rejects=list(rejects)))


def _staged(engine: Engine) -> dict[str, SourceRecord]:
    with session_scope(engine) as session:
        return {r.record_id: r for r in session.scalars(select(SourceRecord))}


def test_new_changed_unchanged_stale_and_what_the_store_keeps(hub_config: HubConfig, store: Engine) -> None:
    first = _run(hub_config, store)
    crm = Staging("crm", first.run_id, "ModifiedAt")
    counts = _stage(first, crm, *[_account(i) for i in range(4)])
    assert (counts["new"], counts["extracted"]) == (4, 4)
    second = _run(hub_config, store)
    crm = Staging("crm", second.run_id, "ModifiedAt")
    counts = _stage(second, crm,
                    _account(0),  # unchanged
                    _account(1, Email="new@firma.cz", ModifiedAt="2026-02-01T10:00:00Z", Version=8),
                    _account(2, Email="old@firma.cz", ModifiedAt="2025-12-01T10:00:00Z", Version=6),  # older
                    _account(3, version="9"),  # the same content, a newer version: unchanged, version kept
                    _account(4))
    assert {k: v for k, v in counts.items() if v} == {
        "unchanged": 2, "changed": 1, "stale": 1, "new": 1, "extracted": 5}
    staged = _staged(store)
    assert staged["CRM-0001"].payload == _account(1, Email="new@firma.cz", ModifiedAt="2026-02-01T10:00:00Z",
                                                  Version=8).payload
    assert (staged["CRM-0001"].run_id, staged["CRM-0001"].version) == (second.run_id, "8")
    assert staged["CRM-0001"].source_version.endswith("n00000000000000000008")
    assert (staged["CRM-0002"].payload["Email"], staged["CRM-0002"].run_id) == (
        _account(2).payload["Email"], first.run_id)  # the stale row changed nothing
    assert (staged["CRM-0003"].run_id, staged["CRM-0003"].version) == (first.run_id, "9")
    assert staged["CRM-0000"].run_id == first.run_id
    assert staged["CRM-0004"].payload == _account(4).payload


def test_a_key_doubled_across_pages_is_put_back_as_it_was(hub_config: HubConfig, store: Engine) -> None:
    first = _run(hub_config, store)
    _stage(first, Staging("crm", first.run_id, "ModifiedAt"), _account(1), _account(2))
    before = {k: (r.payload, r.content_hash, r.version, r.run_id) for k, r in _staged(store).items()}
    ctx = _run(hub_config, store)
    crm = Staging("crm", ctx.run_id, "ModifiedAt")
    newer = dict(ModifiedAt="2026-02-01T10:00:00Z", Version=8)
    assert _stage(ctx, crm, _account(1, Email="a@b.cz", **newer), _account(3))["changed"] == 1
    counts = _stage(ctx, crm, _account(1, Email="c@d.cz", **newer), _account(3, Email="x@y.cz"))
    assert counts["duplicate_key"] == 4 and counts["changed"] == -1 and counts["new"] == -1
    staged = _staged(store)
    assert sorted(staged) == ["CRM-0001", "CRM-0002"]  # the new key's row was taken back
    assert {k: (r.payload, r.content_hash, r.version, r.run_id) for k, r in staged.items()} == before
    with session_scope(store) as session:
        assert sorted(q.record_key for q in session.scalars(select(Quarantine))) == [
            "CRM-0001", "CRM-0001", "CRM-0003", "CRM-0003"]


def test_deletion_review_reappearance_and_rejects(hub_config: HubConfig, store: Engine) -> None:
    ctx = _run(hub_config, store)
    crm = Staging("crm", ctx.run_id, "ModifiedAt")
    _stage(ctx, crm, *[_account(i) for i in range(5)])
    with session_scope(store) as session:
        session.add(Xref(system="crm", record_id="CRM-0002", hub_id="H2", rule="seed", run_id="seed",
                         linked_at=utcnow()))
    crm = Staging("crm", ctx.run_id, "ModifiedAt")  # the key scan of a later extract
    with session_scope(store) as session:
        assert crm.deletions(session, ["CRM-0000", "CRM-0001", "CRM-0004"])["deleted_at_source"] == 2
    with session_scope(store) as session:
        assert crm.deletions(session, ["CRM-0000", "CRM-0001", "CRM-0004"])["deleted_at_source"] == 0
        items = {i.record_id: i for i in session.scalars(select(ReviewItem).where(ReviewItem.kind == DELETED))}
        assert {k: (i.hub_id, i.status) for k, i in items.items()} == {
            "CRM-0002": ("H2", "open"), "CRM-0003": (None, "open")}
    assert [k for k, r in _staged(store).items() if r.deleted_at] == ["CRM-0002", "CRM-0003"]

    again = _run(hub_config, store)
    reject = RejectedRow(record_id=None, location="page:7", reason="unreadable", raw="\x01garbage\t")
    counts = _stage(again, Staging("crm", again.run_id, "ModifiedAt"), _account(2), _account(3, version="8"),
                    rejects=(reject, reject))
    assert (counts["reappeared"], counts["unchanged"], counts["rejected"]) == (2, 2, 1)
    assert [k for k, r in _staged(store).items() if r.deleted_at] == []
    with session_scope(store) as session:
        assert {i.status for i in session.scalars(select(ReviewItem))} == {"dismissed"}
        assert crm.deletions(session, ["CRM-0000", "CRM-0001", "CRM-0003", "CRM-0004"])["deleted_at_source"] == 1
    with session_scope(store) as session:
        assert {i.record_id: i.status for i in session.scalars(select(ReviewItem))} == {
            "CRM-0002": "open", "CRM-0003": "dismissed"}  # deleted again: its item reopened
    assert _stage(again, Staging("crm", again.run_id, None), rejects=(reject,))["rejected"] == 0
    with session_scope(store) as session:
        assert [(q.record_key, q.raw_payload) for q in session.scalars(select(Quarantine))] == [
            ("page:7", "\x01garbage\t")]


@pytest.mark.parametrize(("batch", "workers"), [(3, 1), (5000, 1), (4, 2)])
def test_map_maps_what_changed_in_batches_and_quarantines_the_rest(
        hub_config: HubConfig, store: Engine, batch: int, workers: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(map_step, "BATCH", batch)
    hub_config = hub_config.model_copy(update={"mapping": MappingRunConfig(workers=workers)})
    ctx = _run(hub_config, store)
    records = [_account(i) for i in range(10)] + [_account(10, CountryCode="Absurdistán")]
    with session_scope(store) as session:
        stage_page(session, "crm", Page(records=records, cursor=None), ctx.run_id, cursor_field="ModifiedAt")
    counts = map_system(ctx, "crm")
    assert (counts["mapped"], counts["quarantined"]) == (10, 1)
    with session_scope(store) as session:
        values = {c.record_id: c.values for c in session.scalars(select(CanonicalRecord))}
    assert sorted(values) == [f"CRM-{i:04d}" for i in range(10)]
    assert values["CRM-0007"]["legal_name"].startswith("Firma 7")

    ctx = _run(hub_config, store)
    with session_scope(store) as session:
        stage_page(session, "crm", Page(records=[_account(4, Email="nove@firma.cz", Version=8), _account(11)],
                                        cursor=None), ctx.run_id, cursor_field="ModifiedAt")
    assert map_system(ctx, "crm") == {"mapped": 2, "quarantined": 0}  # the bad one: quarantined once
    with session_scope(store) as session:
        now = {c.record_id: (c.values, c.run_id) for c in session.scalars(select(CanonicalRecord))}
        assert session.scalar(select(Quarantine.reason).where(Quarantine.record_key == "CRM-0010"))
    assert now["CRM-0004"] == ({**values["CRM-0004"], "email": "nove@firma.cz"}, ctx.run_id)
    assert len(now) == 11 and all(now[k][0] == v for k, v in values.items() if k != "CRM-0004")
