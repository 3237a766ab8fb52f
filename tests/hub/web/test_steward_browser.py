"""A steward in headless Chromium: search a company from the header, open its golden record,
tick a record that is another company and split it off with a reason, merge it back, and find
the merged-away hub id forwarding; no script on the page."""

from __future__ import annotations

from sqlalchemy import Engine, select

from hub.store.db import session_scope
from hub.store.models import AuditEntry, Xref
from hub.web.app import create_app
from hub.web.auth import PasswordUsers
from tests.fixtures.browser import Page, serve
from tests.hub.web.conftest import PASSWORD


def test_search_open_and_split_in_the_browser(review_store: Engine, steward_hash: str, browser_page: Page) -> None:
    app = create_app(review_store, PasswordUsers({"steward": steward_hash}), secret_key="browser")
    page = browser_page
    with serve(app) as base:
        page.goto(f"{base}/")
        page.type_into("input[name=username]", "steward")
        page.type_into("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.type_into("header input[name=q]", "255 966 41")  # an IČO as people write it
        page.click("header form.search button")
        assert page.text("#hits").count("H00000001") == 1
        page.screenshot("steward-search")
        page.click("#hits a")
        assert page.url == f"{base}/golden/H00000001"
        assert "Hlavní 1" in page.text("tr[data-field=street]") and "accounting" in page.text("tr[data-field=street]")
        page.click("input[value='crm:CRM-1']", navigates=False)
        page.type_into("#split-form input[name=reason]", "the CRM account is the sister company")
        page.screenshot("steward-golden")
        page.click("#split-form button[type=submit]")
        assert "1 record split off H00000001 into H00000002" in page.text(".flash")
        page.screenshot("steward-after-split")
        page.type_into("#merge-form input[name=other_hub_id]", "H00000002")
        page.type_into("#merge-form input[name=reason]", "it was the same company after all")
        page.click("#merge-form button[type=submit]")
        page.goto(f"{base}/golden/H00000002")
        assert page.url == f"{base}/golden/H00000001?from=H00000002", "a merged-away hub id forwards"
        assert "H00000002 was merged into H00000001" in page.text("#merged-note")
        page.screenshot("steward-forwarded")
        page.click("header a[href$='/audit']")
        assert "split" in page.text("#audit") and "the CRM account is the sister company" in page.text("#audit")
        page.screenshot("steward-audit")
        page.goto(f"{base}/?kind=match_candidate")
        assert page.text("#queue").count("Match candidate") == 1 and "Conflict" not in page.text("#queue")
        page.screenshot("steward-queue-filtered")
    with session_scope(review_store) as session:
        assert {x.hub_id for x in session.scalars(select(Xref))} == {"H00000001"}, "split, then merged back"
        assert session.scalar(select(AuditEntry.reason).where(AuditEntry.action == "split")) == \
            "the CRM account is the sister company"
