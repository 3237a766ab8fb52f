"""Deciding a conflict over HTTP form posts: a typed value is validated like source data, and
"choose a value" and "type a value" are one exclusive choice that needs no script."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from hub.store.db import session_scope
from hub.store.models import AuditEntry, GoldenRecord, ReviewItem, StewardDecision
from tests.hub.web.test_review_app import _csrf, _login


def _ask_about(engine: Engine, field: str) -> None:
    """The conftest's conflict (item 1), asked about another field."""
    with session_scope(engine) as session:
        session.get(ReviewItem, 1).field = field


def _company_in(engine: Engine, country: str) -> None:
    with session_scope(engine) as session:
        golden = session.scalar(select(GoldenRecord).where(GoldenRecord.is_current.is_(True)))
        golden.values = {**golden.values, "country": country}


def _post(client: TestClient, **form: str):  # type: ignore[no-untyped-def]
    token = _csrf(client.get("/items/1").text)
    return client.post("/items/1/resolve", data={"csrf": token, "action": "choose_value", "reason": "checked", **form})


def _stored(engine: Engine) -> list[object]:
    with session_scope(engine) as session:
        return [d.value["value"] for d in session.scalars(select(StewardDecision))]


def _open(engine: Engine) -> bool:
    with session_scope(engine) as session:
        return session.get(ReviewItem, 1).status == "open"


@pytest.mark.parametrize(("field", "typed", "reason"), [
    ("email", "not-an-email", "email: 'not-an-email' refused: not an e-mail address"),
    ("company_id", "12345678", "company_id: '12345678' refused: invalid checksum (ICO)"),
    ("phone", "call me", "phone: 'call me' refused: not a phone number"),
    ("country", "Narnia", "country: 'Narnia' refused: unknown country"),
])
def test_a_bad_typed_value_is_refused_on_the_page_and_kept_in_the_box(
        client: TestClient, review_store: Engine, field: str, typed: str, reason: str) -> None:
    _login(client)
    _ask_about(review_store, field)
    response = _post(client, typed_value=typed)
    assert response.status_code == 422
    page = html.unescape(response.text)
    assert re.search(r'<p class="refused" id="refused" role="alert">Not recorded: ([^<]*)</p>', page).group(1) == reason
    assert f'name="typed_value" id="typed-value" value="{typed}"' in page, "what was typed stays in the box"
    assert 'id="typed-choice" checked' in page, "and the 'type a value' radio is ticked"
    assert _stored(review_store) == [] and _open(review_store)
    with session_scope(review_store) as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


@pytest.mark.parametrize(("field", "typed", "stored"), [
    ("email", " Nakup@Kovo.CZ ", "nakup@kovo.cz"),
    ("company_id", "255 96 641", "25596641"),
    ("phone", "602 123 456", "+420602123456"),  # a national number, read in the company's country
    ("country", "Česká republika", "CZ"),
    ("credit_limit", "1 000,50", "1000.50"),
    ("credit_limit", "100000.50", "100000.50"),
])
def test_a_good_typed_value_is_stored_normalized(client: TestClient, review_store: Engine,
                                                 field: str, typed: str, stored: str) -> None:
    _login(client)
    _ask_about(review_store, field)
    _company_in(review_store, "CZ")
    response = _post(client, typed_value=typed, value="")  # the "type a value" radio sends an empty value
    assert "Decision recorded for item 1" in response.text
    assert _stored(review_store) == [stored]


def test_a_national_phone_number_of_a_company_without_country_is_refused(
        client: TestClient, review_store: Engine) -> None:
    _login(client)
    _ask_about(review_store, "phone")
    response = _post(client, typed_value="602 123 456")
    assert response.status_code == 422
    assert "phone: &#39;602 123 456&#39; refused: national number and no country to read it in" in response.text
    assert "Decision recorded" in _post(client, typed_value="+420 602 123 456").text, "with its country code it is read"
    assert _stored(review_store) == ["+420602123456"]


def test_typing_without_ticking_any_radio_is_enough(client: TestClient, review_store: Engine) -> None:
    _login(client)
    response = _post(client, typed_value="Hlavní  2")
    assert "Decision recorded for item 1" in response.text
    assert _stored(review_store) == ["Hlavní 2"]


def test_a_typed_value_next_to_another_ticked_radio_is_refused(client: TestClient, review_store: Engine) -> None:
    _login(client)
    response = _post(client, value="Nová 5", typed_value="Hlavní 2")
    assert response.status_code == 422
    assert ("you ticked 'Nová 5' and typed 'Hlavní 2'; tick \"type a value\" to use the typed one, "
            "or empty the box") in html.unescape(response.text)
    assert _stored(review_store) == [] and _open(review_store)


def test_a_ticked_value_with_an_empty_box_is_chosen(client: TestClient, review_store: Engine) -> None:
    _login(client)
    assert "Decision recorded" in _post(client, value="Nová 5", typed_value="").text
    assert _stored(review_store) == ["Nová 5"]


def test_the_type_radio_with_an_empty_box_is_refused(client: TestClient, review_store: Engine) -> None:
    _login(client)
    response = _post(client, value="", typed_value="  ")
    assert response.status_code == 422
    assert "choose one of the values shown, or type a value" in response.text
    assert _stored(review_store) == [] and _open(review_store)


def test_the_form_needs_no_radio_and_no_script(client: TestClient) -> None:
    _login(client)
    page = client.get("/items/1").text
    form = page[page.index('id="choose-form"'):page.index("</form>", page.index('id="choose-form"'))]
    radios = re.findall(r'<input type="radio" name="value" value="([^"]*)"', form)
    assert radios == ["Hlavní 1", "Nová 5", ""], "the values shown, then 'type a value' last"
    assert "required" not in form.split('name="reason"')[0], "no radio and no box is required by the browser"
    assert "<script" not in page
