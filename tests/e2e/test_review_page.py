"""A data steward in a real browser: log in, resolve a conflict, and the next run applies it.

The scenario, all through the public paths: after a first sync, a salesperson changes a
customer's e-mail in the CRM and the purchasing department records another one in the ERP.
The next run sees two trusted sources change the same field differently, holds the golden
value and files a conflict. The steward knows the ERP is right and says so on the review
page; the run after that makes it the golden value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from hub.config import HubConfig
from hub.pipeline.context import open_store
from hub.pipeline.nightly import run_nightly
from hub.store.db import session_scope
from hub.store.models import AuditEntry, GoldenRecord, Outbox, ReviewItem, StewardDecision, Xref
from hub.web.app import create_app
from hub.web.auth import PasswordUsers, hash_password
from sandbox import accounting_db
from sandbox.estate import SandboxEstate
from tests.fixtures.browser import ARTIFACTS, Page, serve

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

NEW_EMAIL = "nakup@novy-odberatel.cz"
CRM_EMAIL = "obchod@novy-odberatel.cz"
PASSWORD = "steward-password-1"


def _partner_with_agreeing_email(estate: SandboxEstate) -> tuple[str, str]:
    """An ERP partner of a company whose CRM and accounting e-mails already agree, so that
    the first run corrects nothing in this field and the decision's evidence stays put."""
    truth = estate.generated.truth
    crm = {truth.records[("crm", a["AccountId"])]: a for a in estate.crm.accounts()
           if ("crm", a["AccountId"]) in truth.records}
    acc = {truth.records[("accounting", r["customer_no"])]: r for r in estate.system_records()["accounting"]
           if ("accounting", r["customer_no"]) in truth.records}
    for partner in estate.erp.partners():
        key = ("erp", str(partner["PARTNER_ID"]))
        company = truth.records.get(key)
        if key in truth.broken or company not in crm or company not in acc:
            continue
        email = (crm[company].get("Email") or "").strip().lower()
        if email and email == (acc[company].get("email") or "").strip().lower():
            return str(partner["PARTNER_ID"]), email
    raise AssertionError("the generated estate has no company to arrange the scenario with")


def _people_edit_email(estate: SandboxEstate, partner_id: str) -> None:
    """A CRM user and an ERP user each change the company's e-mail, in their own systems."""
    company = estate.generated.truth.records[("erp", partner_id)]
    account = next(a for a in estate.crm.accounts()
                   if estate.generated.truth.records.get(("crm", a["AccountId"])) == company)
    estate.crm.store.upsert({"AccountId": account["AccountId"], "Email": CRM_EMAIL},
                            expected=account["Version"])
    partners = estate.erp.partners()
    for p in partners:
        if str(p["PARTNER_ID"]) == partner_id:
            p["EMAIL"] = NEW_EMAIL
    estate.erp.load(partners)
    estate.erp.export(datetime.now(UTC).date())


def _conflict_for(engine: Engine, partner_id: str, run_id: str) -> tuple[int, str]:
    """The conflict the engine filed in ``run_id`` on this company's e-mail: two trusted
    sources (the CRM and the ERP) changed the field differently."""
    with session_scope(engine) as session:
        hub_id = session.scalar(select(Xref.hub_id).where(Xref.system == "erp", Xref.record_id == partner_id))
        item = session.scalar(select(ReviewItem).where(ReviewItem.hub_id == hub_id, ReviewItem.field == "email",
                                                       ReviewItem.status == "open"))
        assert item is not None, "the engine files the conflict itself"
        assert (item.kind, item.run_id) == ("conflict", run_id)
        assert {v for k, v in item.candidates.items() if k != "golden"} == {CRM_EMAIL, NEW_EMAIL}
        return item.id, hub_id


def _golden_email(engine: Engine, hub_id: str) -> str | None:
    with session_scope(engine) as session:
        return session.scalar(select(GoldenRecord).where(GoldenRecord.hub_id == hub_id,
                                                         GoldenRecord.is_current.is_(True))).values.get("email")


def _log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    assert page.url == f"{base}/login", "the queue is not shown to an anonymous visitor"
    page.screenshot("review-login")
    page.type_into("input[name=username]", "steward")
    page.type_into("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _resolve_in_browser(page: Page, base: str, item_id: int) -> None:
    """The steward types the e-mail into the box, ticking nothing else: the browser lets the form
    go (no radio is required); a mistyped address comes back refused, the box keeps it to correct."""
    _log_in(page, base)
    assert "Open questions" in page.text() and "signed in as steward" in page.text()
    page.screenshot("review-queue")
    page.click(f"a[href$='/items/{item_id}']")
    asked = page.text("tr.asked")
    assert "email" in asked and NEW_EMAIL in asked, "the field in question is highlighted, values side by side"
    page.screenshot("review-item")
    page.type_into("#typed-value", "not-an-email")
    page.type_into("#choose-form input[name=reason]", "new purchasing contact, confirmed by phone")
    page.click("#choose-form button[type=submit]")
    assert page.text("#refused") == "Not recorded: email: 'not-an-email' refused: not an e-mail address"
    assert page.evaluate("document.querySelector('#typed-value').value") == "not-an-email"
    assert page.evaluate("document.querySelector('#typed-choice').checked"), "the typed value is the choice"
    page.screenshot("review-refused")
    page.click("#typed-value", navigates=False)
    page.evaluate("document.querySelector('#typed-value').select()")  # as a person selects it to retype
    page.send("Input.insertText", text=f"  {NEW_EMAIL.upper()} ")
    page.click("#choose-form button[type=submit]")
    assert f"Decision recorded for item {item_id}" in page.text()


def _accounting_imports(estate: SandboxEstate) -> list[str | None]:
    with estate.accounting.connect() as conn:
        return list(conn.scalars(select(accounting_db.import_table.c.email)))


def _outbox_emails(engine: Engine) -> list[str | None]:
    with session_scope(engine) as session:
        return [o.values.get("email") for o in session.scalars(select(Outbox))]


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_a_steward_resolves_a_conflict_and_the_next_run_applies_it(
        hub_config: HubConfig, sandbox_estate: SandboxEstate, browser_page: Page) -> None:
    partner_id, before = _partner_with_agreeing_email(sandbox_estate)
    run_nightly(hub_config)
    sandbox_estate.process_inbound()
    _people_edit_email(sandbox_estate, partner_id)
    changed = run_nightly(hub_config)
    engine = open_store(hub_config)
    item_id, hub_id = _conflict_for(engine, partner_id, changed.run_id)
    assert _golden_email(engine, hub_id) in {before, CRM_EMAIL}, "by the rules, the ERP's e-mail never wins"

    app = create_app(engine, PasswordUsers({"steward": hash_password(PASSWORD)}), secret_key="e2e")
    with serve(app) as base:
        _resolve_in_browser(browser_page, base, item_id)
    with session_scope(engine) as session:
        decision = session.scalar(select(StewardDecision).where(StewardDecision.review_item_id == item_id))
        assert (decision.decided_by, decision.value) == ("steward", {"value": NEW_EMAIL}), "stored normalized"
        assert session.scalar(select(AuditEntry.actor).where(AuditEntry.subject == f"review:{item_id}")) == "steward"

    second = run_nightly(hub_config)
    assert _golden_email(engine, hub_id) == NEW_EMAIL, "the decision took effect in the next run"
    assert NEW_EMAIL in _outbox_emails(engine) and NEW_EMAIL in _accounting_imports(sandbox_estate)
    assert "not-an-email" not in _outbox_emails(engine) + _accounting_imports(sandbox_estate), \
        "the refused value reached neither the outbox nor accounting's import table"
    browser_page.goto(second.report.as_uri())
    browser_page.screenshot("report")
    assert re.search(r"Run\s+" + second.run_id, browser_page.text())
    assert (ARTIFACTS / "review-item.png").stat().st_size > 10_000
