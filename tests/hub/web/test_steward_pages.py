"""The steward's whole job on the page, over HTTP: golden records with lineage and records,
search, queue filters, link / unlink / merge / split with a reason, the audit trail, and a
merged-away hub id that forwards to the survivor (the page, and `custhub xref show` as a process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from hub.config import DEFAULT_CONFIG
from hub.store.db import session_scope
from hub.store.models import AuditEntry, GoldenRecord, ReviewItem, StewardDecision, Xref
from hub.web.app import create_app
from hub.web.auth import PasswordUsers
from tests.hub.web.conftest import T0
from tests.hub.web.test_review_app import _csrf, _login

ERP = {"legal_name": "Kovo Praha a.s., závod Škoda", "company_id": "27082440", "vat_id": "CZ27082440",
       "city": "Praha"}


@pytest.fixture
def two_companies(review_store: Engine) -> Engine:
    """The conftest's H00000001 (crm CRM-1, accounting ACC1), and the ERP's P9 as H00000002."""
    return _erp_company(review_store)


def _erp_company(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        session.add(Xref(system="erp", record_id="P9", hub_id="H00000002", rule="new", run_id="r1", linked_at=T0))
        session.add(GoldenRecord(hub_id="H00000002", version=1, values=ERP, is_current=True, run_id="r1",
                                 created_at=T0, lineage={f: {"source": "erp", "record_id": "P9",
                                                             "rule": "source_priority"} for f in ERP}))
    return engine


def _hubs(engine: Engine) -> dict[tuple[str, str], str]:
    with session_scope(engine) as session:
        return {(x.system, x.record_id): x.hub_id for x in session.scalars(select(Xref))}


def _audit(engine: Engine) -> list[tuple[str, str, str, str | None]]:
    with session_scope(engine) as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(a.actor, a.action, a.subject, a.reason) for a in rows]


def _post(client: TestClient, hub_id: str, **form: object) -> object:
    token = _csrf(client.get(f"/golden/{hub_id}").text)
    return client.post(f"/golden/{hub_id}/xref", data={"csrf": token, **form}, follow_redirects=False)


def test_golden_page_shows_values_with_lineage_records_and_history(client: TestClient) -> None:
    _login(client)
    page = client.get("/golden/H00000001").text
    street = re.search(r'<tr data-field="street">(.*?)</tr>', page, re.S).group(1)
    assert [c.strip() for c in re.findall(r"<td[^>]*>([^<]*)</td>", street)] == \
        ["street", "Hlavní 1", "accounting", "ACC1", "source_priority"]
    assert re.findall(r'<tr data-record="([^"]+)">', page) == ["accounting:ACC1", "crm:CRM-1"]
    history = page[page.index('id="history"'):]
    assert history.index("v2") < history.index("v1") and "<s>Stará 1</s> → Hlavní 1" in history
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Kovo s.r.o." in page and "<script>alert" not in page
    assert 'href="http://review.test/items/1"' in page, "its open questions link to their items"
    assert client.get("/golden/H99999999").status_code == 404


def test_every_hub_id_on_the_queue_and_item_pages_links_to_its_golden_page(client: TestClient) -> None:
    _login(client)
    for path in ("/", "/items/1"):
        assert 'href="http://review.test/golden/H00000001"' in client.get(path).text


def test_search_by_name_ico_and_vat_id(client: TestClient, two_companies: Engine) -> None:
    _login(client)
    assert 'name="q"' in client.get("/").text, "a search box in the header"
    for query, found in (("kovo", ["H00000001", "H00000002"]), ("praha a.s", ["H00000002"]),
                         ("25596641", ["H00000001"]), ("cz 2708", ["H00000002"]), ("50%", []), ("_", []),
                         ("škoda", ["H00000002"]), ("ŠKODA", ["H00000002"]), ("ZÁVOD", ["H00000002"])):
        page = client.get("/search", params={"q": query}).text
        assert re.findall(r'<a href="http://review.test/golden/(H\d+)">', page) == found, query
    assert "No golden record has" in client.get("/search", params={"q": "nobody"}).text


def test_queue_filters_by_kind_system_and_age(client: TestClient, review_store: Engine) -> None:
    _login(client)
    with session_scope(review_store) as session:  # the match candidate waits since long ago
        session.get(ReviewItem, 2).created_at = T0 - timedelta(days=3650)

    def ids(**params: str) -> list[str]:
        return re.findall(r'href="http://review.test/items/(\d+)"', client.get("/", params=params).text)

    assert ids() == ["1", "2"]
    assert ids(kind="conflict") == ["1"] and ids(kind="match_candidate") == ["2"]
    assert ids(system="erp") == ["2"] and ids(system="accounting") == ["1"] and ids(system="crm") == ["1", "2"]
    assert ids(older_than="3000") == ["2"] and ids(older_than="3000", kind="conflict") == []
    assert "No open question fits this filter." in client.get("/", params={"kind": "conflict", "system": "erp"}).text


def test_link_and_unlink_with_a_reason(client: TestClient, two_companies: Engine) -> None:
    _login(client)
    refused = _post(client, "H00000001", action="link", system="erp", record_id="P9", reason=" ")
    assert refused.status_code == 422 and "Say why" in refused.text
    assert _hubs(two_companies)[("erp", "P9")] == "H00000002"
    done = _post(client, "H00000001", action="link", system="erp", record_id="P9", reason="same IČO in ARES")
    assert done.status_code == 303 and _hubs(two_companies)[("erp", "P9")] == "H00000001"
    assert "erp:P9 is linked to H00000001." in client.get(done.headers["location"]).text
    left = client.get("/golden/H00000002", follow_redirects=False)  # emptied by a link, not merged
    assert left.status_code == 200 and "the next run retires it" in left.text
    assert 'erp:P9 → <a href="http://review.test/golden/H00000001">' in left.text
    _post(client, "H00000001", action="unlink", system="crm", record_id="CRM-1", reason="a branch, not HQ")
    hubs = _hubs(two_companies)
    assert hubs[("crm", "CRM-1")] not in ("H00000001", "H00000002") and hubs[("accounting", "ACC1")] == "H00000001"
    assert _audit(two_companies)[-2:] == [("steward", "link", "erp:P9", "same IČO in ARES"),
                                           ("steward", "unlink", "crm:CRM-1", "a branch, not HQ")]
    missing = _post(client, "H00000001", action="link", system="erp", record_id="NOPE", reason="x")
    assert missing.status_code == 422 and "Nothing changed: no record erp:NOPE" in missing.text


def test_a_golden_records_trail_is_whole_behind_many_later_operations(client: TestClient,
                                                                       two_companies: Engine) -> None:
    from hub import xref_ops

    _login(client)
    xref_ops.link(two_companies, "erp", "P9", "H00000001", "steward", "the oldest reason")
    with session_scope(two_companies) as session:  # 2,500 later operations on other companies
        for n in range(2500):
            xref_ops._audit(session, "bot", "link", f"crm:X{n}", {"from": f"H1{n:07d}", "to": "H09999999"}, "later")
    trail = re.search(r'<table id="hub-audit">(.*?)</table>', client.get("/golden/H00000001").text, re.S).group(1)
    assert "the oldest reason" in trail and "later" not in trail
    assert xref_ops.audit_hub_ids("H00000001", {"merged": "H00000002", "records": ["erp:P9"]}) == \
        {"H00000001", "H00000002"}


def test_split_the_ticked_records_off(client: TestClient, review_store: Engine) -> None:
    _login(client)
    page = client.get("/golden/H00000001").text
    assert 'name="records" value="crm:CRM-1" form="split-form"' in page
    _post(client, "H00000001", action="split", records=["crm:CRM-1"], reason="two companies, one name")
    hubs = _hubs(review_store)
    assert hubs[("accounting", "ACC1")] == "H00000001" and hubs[("crm", "CRM-1")] == "H00000002"
    with session_scope(review_store) as session:
        decision = session.scalar(select(StewardDecision))
        assert (decision.kind, decision.record_b, decision.decided_by) == ("split", "hub:H00000002", "steward")


def test_a_merged_away_hub_id_forwards_to_the_survivor(client: TestClient, two_companies: Engine) -> None:
    _login(client)
    _post(client, "H00000001", action="merge", other_hub_id="h00000002", reason="one company, two ERP ids")
    assert set(_hubs(two_companies).values()) == {"H00000001"}
    response = client.get("/golden/H00000002", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "http://review.test/golden/H00000001?from=H00000002"
    note = re.search(r'<p class="flash" id="merged-note"[^>]*>(.*?)</p>', client.get(response.headers["location"]).text,
                     re.S).group(1)
    assert "H00000002 was merged into H00000001 on" in note and "by steward: one company, two ERP ids" in note
    assert "Nothing changed: cannot merge H00000001 into itself" in \
        _post(client, "H00000001", action="merge", other_hub_id="H00000001", reason="x").text


def test_xref_show_forwards_a_merged_away_id(tmp_path: Path, two_companies: Engine) -> None:
    from hub import xref_ops

    xref_ops.merge(two_companies, "H00000001", "H00000002", "steward", "one company")
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["store"] = {"url": two_companies.url.render_as_string(hide_password=False)}
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTHUB_")} | {"COLUMNS": "200"}
    shown = subprocess.run([sys.executable, "-m", "hub.cli", "xref", "show", "H00000002", "--config", str(config)],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "H00000002 was merged into H00000001" in shown.stdout and "by steward: one company" in shown.stdout
    assert "H00000001 version 2" in shown.stdout and "erp:P9" in shown.stdout


def test_the_audit_trail_lists_who_when_what_and_why(client: TestClient, two_companies: Engine) -> None:
    _login(client)
    _post(client, "H00000001", action="merge", other_hub_id="H00000002", reason="one company")
    token = _csrf(client.get("/items/2").text)
    client.post("/items/2/resolve", data={"csrf": token, "action": "dismiss", "reason": "seen to"})
    client.post("/items/1/resolve", data={"csrf": token, "action": "choose_value", "value": "Nová 5",
                                          "reason": "customer moved"})
    page = client.get("/audit").text
    rows = re.findall(r'<tr data-action="(\w+)">', page)
    assert rows == ["decide", "dismiss", "merge"], "newest first"
    decided = re.search(r'<tr data-action="decide">(.*?)</tr>', page, re.S).group(1)
    assert "Nová 5" in decided and "{" not in decided and 'href="http://review.test/items/1"' in decided
    assert "one company" in page and "seen to" in page and 'href="http://review.test/golden/H00000002"' in page
    assert re.findall(r'<tr data-action="(\w+)">', client.get("/audit", params={"action": "merge"}).text) == ["merge"]


class ReadOnly(PasswordUsers):
    """A user list whose users may read but not decide (what Airflow's Viewer role is)."""

    async def may_decide(self, request: Request) -> bool:
        return False


@pytest.fixture
def viewer(two_companies: Engine, steward_hash: str) -> Iterator[TestClient]:
    app = create_app(two_companies, ReadOnly({"steward": steward_hash}), secret_key="test-secret")
    with TestClient(app, base_url="http://review.test") as c:
        yield c


def test_a_viewer_reads_but_may_not_change_the_xref(viewer: TestClient, two_companies: Engine) -> None:
    _login(viewer)
    page = viewer.get("/golden/H00000001").text
    assert "Read only" in page and 'id="merge-form"' not in page and "Unlink" not in page
    for form in ({"action": "merge", "other_hub_id": "H00000002"},
                 {"action": "link", "system": "erp", "record_id": "P9"},
                 {"action": "unlink", "system": "crm", "record_id": "CRM-1"},
                 {"action": "split", "records": "crm:CRM-1"}):
        assert _post(viewer, "H00000001", reason="x", **form).status_code == 403
    assert _hubs(two_companies)[("erp", "P9")] == "H00000002" and _audit(two_companies) == []
    assert viewer.get("/audit").status_code == 200 and viewer.get("/search?q=kovo").status_code == 200


@pytest.mark.integration
@pytest.mark.parametrize("hub_store_url", ["postgresql"], indirect=True)
def test_search_and_forwarding_on_postgresql(hub_store_url: str, steward_hash: str) -> None:
    """The JSON look-ups of search and the merge trail read the same on PostgreSQL."""
    from hub.store.db import make_engine, migrate
    from tests.hub.web.conftest import _company

    engine = make_engine(hub_store_url)
    migrate(engine)
    with session_scope(engine) as session:
        _company(session)
    _erp_company(engine)
    app = create_app(engine, PasswordUsers({"steward": steward_hash}), secret_key="pg")
    with TestClient(app, base_url="http://review.test") as client:
        _login(client)
        for query, found in (("KOVO", ["H00000001", "H00000002"]), ("CZ27082440", ["H00000002"]), ("_", []),
                             ("škoda", ["H00000002"])):
            page = client.get("/search", params={"q": query}).text
            assert re.findall(r'<a href="http://review.test/golden/(H\d+)">', page) == found, query
        _post(client, "H00000001", action="merge", other_hub_id="H00000002", reason="one company")
        forwarded = client.get("/golden/H00000002", follow_redirects=False)
        assert forwarded.headers["location"] == "http://review.test/golden/H00000001?from=H00000002"
    engine.dispose()


def test_a_hub_id_merged_twice_forwards_to_the_last_survivor(client: TestClient, two_companies: Engine) -> None:
    _login(client)
    _post(client, "H00000001", action="split", records=["crm:CRM-1"], reason="the CRM account is separate")
    assert _hubs(two_companies)[("crm", "CRM-1")] == "H00000003"
    _post(client, "H00000001", action="merge", other_hub_id="H00000002", reason="one ERP partner")
    _post(client, "H00000003", action="merge", other_hub_id="H00000001", reason="all one company after all")
    response = client.get("/golden/H00000002", follow_redirects=False)
    assert response.headers["location"] == "http://review.test/golden/H00000003?from=H00000002"
    note = client.get(response.headers["location"]).text
    assert "H00000002 was merged into H00000001" in note and "H00000001 was merged into H00000003" in note
    assert set(_hubs(two_companies).values()) == {"H00000003"}
