"""Reconciliation over the sandbox estate as people and the systems' own jobs change it:
conflicts between trusted sources, steward decisions that survive our own corrections,
records deleted at their source, and a guard-held run approved from the command line."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from airflow.sdk.exceptions import AirflowSkipException
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from hub import review, tasks
from hub.cli import app
from hub.config import HubConfig
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.extract import extract
from hub.pipeline.map import map_system
from hub.pipeline.nightly import run_nightly
from hub.pipeline.reconcile import reconcile_run
from hub.pipeline.registries import check_registries
from hub.pipeline.runs import run_status, start_run
from hub.store.db import session_scope
from hub.store.models import GoldenRecord, Outbox, ReviewItem, StewardDecision, Xref
from sandbox import accounting_db
from sandbox.estate import SandboxEstate

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
SYSTEMS = ("crm", "accounting", "erp")


def _synced(config: HubConfig, estate: SandboxEstate) -> tuple[Engine, str, dict[str, str]]:
    """A first sync applied by every system; a hub id with one record in each system and an e-mail."""
    run_nightly(config)
    estate.process_inbound()
    engine = open_store(config)
    members: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with session_scope(engine) as session:
        for x in session.scalars(select(Xref).order_by(Xref.hub_id)):
            members[x.hub_id][x.system].append(x.record_id)
        emails = {g.hub_id for g in session.scalars(select(GoldenRecord).where(
            GoldenRecord.is_current.is_(True))) if g.values.get("email")}
    for hub_id, by_system in members.items():
        if hub_id in emails and all(len(by_system[s]) == 1 for s in SYSTEMS):
            return engine, hub_id, {s: by_system[s][0] for s in SYSTEMS}
    raise AssertionError("the generated estate has no company known to every system")


def _crm_sets_email(estate: SandboxEstate, account_id: str, email: str) -> None:
    """A salesperson edits the account in the CRM."""
    account = next(a for a in estate.crm.accounts() if a["AccountId"] == account_id)
    estate.crm.store.upsert({"AccountId": account_id, "Email": email}, expected=account["Version"])


def _accountant_sets_email(estate: SandboxEstate, customer_no: str, email: str) -> None:
    """An accountant edits the customer in the accounting system (its view's watermark moves)."""
    table = accounting_db.customers_table
    with estate.accounting.begin() as conn:
        conn.execute(table.update().where(table.c.customer_no == customer_no)
                     .values(email=email, updated_at=accounting_db._now()))


def _erp_sets_email(estate: SandboxEstate, partner_id: str, email: str) -> None:
    """A buyer edits the partner in the ERP, which exports its master data again."""
    partners = estate.erp.partners()
    for p in partners:
        if str(p["PARTNER_ID"]) == partner_id:
            p["EMAIL"] = email
    estate.erp.load(partners)
    estate.erp.export(accounting_db._now().date())


def _golden(engine: Engine, hub_id: str) -> GoldenRecord:
    with session_scope(engine) as session:
        row = session.scalar(select(GoldenRecord).where(GoldenRecord.hub_id == hub_id,
                                                        GoldenRecord.is_current.is_(True)))
        session.expunge(row)
        return row


def _open_conflict(engine: Engine, hub_id: str, field: str) -> ReviewItem | None:
    with session_scope(engine) as session:
        item = session.scalar(select(ReviewItem).where(ReviewItem.hub_id == hub_id, ReviewItem.field == field,
                                                       ReviewItem.kind == "conflict",
                                                       ReviewItem.status == "open"))
        if item is not None:
            session.expunge(item)
        return item


def _accounting_email(estate: SandboxEstate, customer_no: str) -> str | None:
    return next(r["email"] for r in accounting_db.customers(estate.accounting) if r["customer_no"] == customer_no)


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_two_trusted_sources_changing_an_email_differently_is_a_conflict(
        hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    engine, hub_id, ids = _synced(hub_config, sandbox_estate)
    before = _golden(engine, hub_id).values["email"]
    _crm_sets_email(sandbox_estate, ids["crm"], "obchod@zmena-crm.cz")
    _accountant_sets_email(sandbox_estate, ids["accounting"], "fakturace@zmena-ucetni.cz")

    changed = run_nightly(hub_config)
    item = _open_conflict(engine, hub_id, "email")
    assert item is not None, "the engine files the conflict itself"
    assert item.candidates == {f"crm:{ids['crm']}": "obchod@zmena-crm.cz",
                               f"accounting:{ids['accounting']}": "fakturace@zmena-ucetni.cz", "golden": before}
    assert _golden(engine, hub_id).values["email"] == before, "held, not guessed"
    with session_scope(engine) as session:
        sent = session.scalars(select(Outbox).where(Outbox.run_id == changed.run_id, Outbox.hub_id == hub_id))
        assert not [o for o in sent if "email" in o.values], "nothing is corrected on a held field"

    # While the question waits, the company is decided again (the CRM edits it once more): the
    # field stays held, whichever source its rule trusts, and no system is sent a guess.
    _crm_sets_email(sandbox_estate, ids["crm"], "obchod2@zmena-crm.cz")
    later = run_nightly(hub_config)
    assert _open_conflict(engine, hub_id, "email") is not None
    assert _golden(engine, hub_id).values["email"] == before
    with session_scope(engine) as session:
        sent = session.scalars(select(Outbox).where(Outbox.run_id == later.run_id, Outbox.hub_id == hub_id))
        assert not [o for o in sent if "email" in o.values]


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_a_steward_decision_survives_the_corrections_it_causes_and_expires_on_a_new_edit(
        hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    engine, hub_id, ids = _synced(hub_config, sandbox_estate)
    chosen, third = "nakup@novy-odberatel.cz", "reditel@novy-odberatel.cz"
    _crm_sets_email(sandbox_estate, ids["crm"], "obchod@novy-odberatel.cz")
    _erp_sets_email(sandbox_estate, ids["erp"], chosen)
    run_nightly(hub_config)
    item = _open_conflict(engine, hub_id, "email")
    assert item is not None
    review.resolve_conflict(engine, item.id, chosen, "eva", "the ERP has the new purchasing contact")

    run_nightly(hub_config)  # the decision wins and accounting is corrected to it
    assert _golden(engine, hub_id).values["email"] == chosen
    sandbox_estate.process_inbound()
    assert _accounting_email(sandbox_estate, ids["accounting"]) == chosen
    for _ in range(2):  # accounting now agrees with the decision: that is no reason to drop it
        run_nightly(hub_config)
        golden = _golden(engine, hub_id)
        assert (golden.values["email"], golden.lineage["email"]["rule"]) == (chosen, "steward")
    with session_scope(engine) as session:
        assert session.scalar(select(StewardDecision.expired_at).where(
            StewardDecision.review_item_id == item.id)) is None

    _crm_sets_email(sandbox_estate, ids["crm"], third)  # a person moves on: the decision expires
    run_nightly(hub_config)
    assert _golden(engine, hub_id).values["email"] == third
    with session_scope(engine) as session:
        assert session.scalar(select(StewardDecision.expired_at).where(
            StewardDecision.review_item_id == item.id)) is not None


def _reconcile_without_publishing(config: HubConfig) -> str:
    """A run whose publish never happened (its Airflow task failed): its corrections stay pending."""
    engine = open_store(config)
    ctx = RunContext(config, engine, start_run(engine, "nightly"))
    for system in config.enabled_systems():
        extract(ctx, system)
        map_system(ctx, system)
    check_registries(ctx)
    reconcile_run(ctx)
    return ctx.run_id


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_publish_never_writes_to_a_record_deleted_at_its_source(
        hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    first = _reconcile_without_publishing(hub_config)
    engine = open_store(hub_config)
    with session_scope(engine) as session:
        pending = session.scalar(select(Outbox).where(Outbox.run_id == first, Outbox.system == "accounting")
                                 .order_by(Outbox.id).limit(1))
        outbox_id, customer_no = pending.id, pending.record_id
    table = accounting_db.customers_table
    with sandbox_estate.accounting.begin() as conn:  # the accountants delete the customer
        conn.execute(sa.delete(table).where(table.c.customer_no == customer_no))

    run_nightly(hub_config)
    sandbox_estate.process_inbound()
    with session_scope(engine) as session:
        assert session.get(Outbox, outbox_id).status == "skipped_deleted"
    assert customer_no not in {r["customer_no"] for r in accounting_db.customers(sandbox_estate.accounting)}, \
        "the import job must not re-create a customer the accountants deleted"


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_a_held_run_is_approved_on_the_command_line_and_then_published(
        hub_config: HubConfig, sandbox_estate: SandboxEstate, tmp_path: Path) -> None:
    engine, hub_id, ids = _synced(hub_config, sandbox_estate)
    strict = hub_config.model_copy(update={"guards": hub_config.guards.model_copy(
        update={"max_golden_change_share": 0.0, "min_golden_records": 1})})
    config_path = tmp_path / "strict.yaml"
    config_path.write_text(yaml.safe_dump(strict.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    _crm_sets_email(sandbox_estate, ids["crm"], "novy@presunuto.cz")

    held = run_nightly(strict)
    assert held.status == "awaiting_approval" and run_status(engine, held.run_id) == "awaiting_approval"
    with pytest.raises(AirflowSkipException):  # what the DAGs' publish tasks do with a held run
        tasks.publish(held.run_id, "accounting")
    assert Path(tasks.finish(held.run_id)).is_file() and run_status(engine, held.run_id) == "awaiting_approval"
    sandbox_estate.process_inbound()
    assert _accounting_email(sandbox_estate, ids["accounting"]) != "novy@presunuto.cz"

    result = CliRunner().invoke(app, ["approve", held.run_id, "--by", "eva", "--reason", "a real move",
                                      "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert run_status(engine, held.run_id) == "succeeded"
    sandbox_estate.process_inbound()
    assert _accounting_email(sandbox_estate, ids["accounting"]) == "novy@presunuto.cz"
    assert _golden(engine, hub_id).values["email"] == "novy@presunuto.cz"
