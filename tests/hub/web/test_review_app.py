"""The review page in-process: who may see and change what, and what a decision records."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from hub.store.db import session_scope
from hub.store.models import AuditEntry, ReviewItem, StewardDecision

PASSWORD = "correct horse battery"  # the conftest's steward


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "every form carries the session's CSRF token"
    return found.group(1)


def _login(client: TestClient, user: str = "steward", password: str = PASSWORD) -> str:
    token = _csrf(client.get("/login").text)
    page = client.post("/login", data={"csrf": token, "username": user, "password": password})
    return page.text


def _decisions(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(StewardDecision))


def test_nothing_is_shown_without_login(client: TestClient) -> None:
    for path in ("/", "/items/1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].endswith("/login")


def test_a_wrong_password_is_refused(client: TestClient) -> None:
    page = _login(client, password="guess")
    assert "Unknown user or wrong password." in page
    assert client.get("/", follow_redirects=False).status_code == 303
    assert "Unknown user or wrong password." in _login(client, user="nobody")


def test_the_queue_lists_open_items_and_escapes_data(client: TestClient) -> None:
    page = _login(client)
    assert "signed in as <b>steward</b>" in page
    assert page.count('class="kind-') == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Kovo s.r.o." in page and "<script>alert" not in page


def test_session_cookie_is_samesite_strict_and_httponly(client: TestClient) -> None:
    response = client.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie and "httponly" in cookie
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_item_page_shows_records_side_by_side_and_golden_history(client: TestClient) -> None:
    _login(client)
    page = client.get("/items/1").text
    row = re.search(r'<tr class="differs asked" data-field="street">(.*?)</tr>', page, re.S)
    assert row, "the asked field is highlighted as differing"
    headers = re.findall(r"<th[^>]*>([a-z ]+)<br>", page)
    assert headers == ["accounting", "crm", "golden record"]
    assert [c.strip() for c in re.findall(r"<td>([^<]*)</td>", row.group(1))] == ["Hlavní 1", "Nová 5", "Hlavní 1"]
    assert 'data-field="city"' in page and '<tr class="" data-field="city">' in page, "equal values: no highlight"
    history = page[page.index('id="history"'):]
    assert history.index("v2") < history.index("v1"), "newest version first"
    assert "<s>Stará 1</s> → Hlavní 1" in history and "from accounting ACC1 (source_priority)" in history


def test_a_post_without_the_session_token_changes_nothing(client: TestClient, review_store: Engine) -> None:
    _login(client)
    form = {"action": "choose_value", "value": "Hlavní 1", "reason": "checked"}
    assert client.post("/items/1/resolve", data={**form, "csrf": "forged"}).status_code == 403
    assert client.post("/items/1/resolve", data=form).status_code == 422  # no token at all
    token = _csrf(client.get("/items/1").text)
    other_site = client.post("/items/1/resolve", data={**form, "csrf": token},
                             headers={"Origin": "http://evil.test"})
    assert other_site.status_code == 403
    assert _decisions(review_store) == 0


def test_a_token_from_before_login_is_not_valid_after_it(client: TestClient) -> None:
    before = _csrf(client.get("/login").text)
    _login(client)
    response = client.post("/items/1/resolve", data={"csrf": before, "action": "dismiss", "reason": "x"})
    assert response.status_code == 403


def test_choosing_a_value_records_decision_and_audit(client: TestClient, review_store: Engine) -> None:
    _login(client)
    token = _csrf(client.get("/items/1").text)
    page = client.post("/items/1/resolve", data={"csrf": token, "action": "choose_value",
                                                 "value": "Nová 5", "reason": "customer moved"}).text
    assert "Decision recorded for item 1; it takes effect in the next run." in page
    assert page.count('class="kind-') == 1, "the resolved conflict left the queue"
    with session_scope(review_store) as session:
        item = session.get(ReviewItem, 1)
        decision = session.scalar(select(StewardDecision))
        audit = session.scalar(select(AuditEntry).where(AuditEntry.subject == "review:1"))
        assert (item.status, item.resolved_by) == ("resolved", "steward")
        assert (decision.kind, decision.field, decision.value) == ("choose_value", "street", {"value": "Nová 5"})
        assert (audit.actor, audit.action, audit.reason) == ("steward", "decide", "customer moved")


def test_a_typed_value_is_validated_as_the_canonical_field(client: TestClient, review_store: Engine) -> None:
    _login(client)
    with session_scope(review_store) as session:
        session.get(ReviewItem, 1).field = "payment_terms_days"
    token = _csrf(client.get("/items/1").text)
    page = client.post("/items/1/resolve", data={"csrf": token, "action": "choose_value",
                                                 "typed_value": "thirty", "reason": "x"}).text
    assert "Not recorded: payment_terms_days: &#39;thirty&#39; refused: not a number" in page
    client.post("/items/1/resolve", data={"csrf": token, "action": "choose_value",
                                          "typed_value": "45", "reason": "contract"})
    with session_scope(review_store) as session:
        assert session.scalar(select(StewardDecision.value)) == {"value": 45}, "an int stays an int"


def test_a_reason_is_required(client: TestClient, review_store: Engine) -> None:
    _login(client)
    token = _csrf(client.get("/items/2").text)
    page = client.post("/items/2/resolve", data={"csrf": token, "action": "not_match", "reason": " "}).text
    assert "Say why" in page and _decisions(review_store) == 0


def test_not_a_match_is_decided_once(client: TestClient, review_store: Engine) -> None:
    _login(client)
    token = _csrf(client.get("/items/2").text)
    form = {"csrf": token, "action": "not_match", "reason": "different companies"}
    assert "Decision recorded" in client.post("/items/2/resolve", data=form).text
    assert "already resolved" in client.post("/items/2/resolve", data=form).text
    with session_scope(review_store) as session:
        decision = session.scalar(select(StewardDecision))
        assert (decision.kind, decision.record_a, decision.record_b) == ("not_match", "crm:CRM-1", "erp:P9")


def test_logout_ends_the_session(client: TestClient) -> None:
    _login(client)
    token = _csrf(client.get("/").text)
    client.post("/logout", data={"csrf": token})
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_refused_writes_note_is_not_offered_as_a_value(client: TestClient, review_store: Engine) -> None:
    _login(client)
    with session_scope(review_store) as session:  # the shape hub.pipeline.publish files
        session.get(ReviewItem, 1).candidates = {"golden": "Hlavní 1", "crm": "changed at the source"}
    page = client.get("/items/1").text
    offered = re.findall(r'type="radio" name="value" value="([^"]+)"', page)
    assert offered == ["Hlavní 1", "Nová 5"], "what the records and the golden record hold, nothing else"
    token = _csrf(page)
    answer = client.post("/items/1/resolve", data={"csrf": token, "action": "choose_value",
                                                   "value": "changed at the source", "reason": "x"}).text
    assert "Not recorded: choose one of the values shown" in answer and _decisions(review_store) == 0
