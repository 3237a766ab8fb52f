"""The review page's login guards, through the app: failed logins are limited per user and per
address (429 with Retry-After), and logout or a password change ends every session of the user,
a cookie captured before included."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from hub.store.db import session_scope
from hub.store.models import StewardDecision
from hub.web.app import create_app
from hub.web.auth import PasswordUsers, hash_password
from hub.web.guard import LoginThrottle, SessionGuard

PASSWORD = "correct horse battery"  # the conftest's steward


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users(steward_hash: str, clock: Clock) -> PasswordUsers:
    return PasswordUsers({"steward": steward_hash, "auditor": steward_hash},
                         throttle=LoginThrottle(limit=5, window=60, clock=clock))


def _client(engine: Engine, users: PasswordUsers, address: str = "192.0.2.1") -> TestClient:
    app = create_app(engine, users, secret_key="test-secret")
    return TestClient(app, base_url="http://review.test", client=(address, 50000))


@pytest.fixture
def browser(review_store: Engine, users: PasswordUsers) -> Iterator[TestClient]:
    with _client(review_store, users) as c:
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)


def _login(client: TestClient, user: str = "steward", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    token = _csrf(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "username": user, "password": password},
                       follow_redirects=False)


def _logged_in(client: TestClient) -> bool:
    return client.get("/", follow_redirects=False).status_code == 200


def test_five_wrong_logins_then_even_the_right_one_waits(browser: TestClient, clock: Clock) -> None:
    for _ in range(5):
        assert _login(browser, password="guess").status_code == 303
    refused = _login(browser)
    assert refused.status_code == 429 and "Too many failed logins" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and not _logged_in(browser)
    clock.now += int(refused.headers["Retry-After"])
    assert _login(browser).status_code == 303 and _logged_in(browser)


def test_the_limit_holds_per_address_across_user_names(browser: TestClient) -> None:
    for name in ("a", "b", "c", "d", "e"):
        _login(browser, user=name, password="guess")
    assert _login(browser, user="auditor").status_code == 429


def test_the_limit_holds_per_user_across_addresses(review_store: Engine,
                                                   users: PasswordUsers) -> None:
    for i in range(5):
        with _client(review_store, users, f"198.51.100.{i}") as attacker:
            _login(attacker, password="guess")
    with _client(review_store, users, "203.0.113.9") as steward:
        assert _login(steward).status_code == 429
        assert _login(steward, user="auditor").status_code == 303  # another user is not locked


def _resolve(client: TestClient, csrf: str) -> int:
    return client.post("/items/1/resolve", follow_redirects=False,
                       data={"csrf": csrf, "action": "choose_value", "value": "Nová 5",
                             "reason": "seen on site"}).status_code


def _decisions(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(StewardDecision))


def test_logout_ends_every_session_of_the_user_a_captured_cookie_too(
        review_store: Engine, users: PasswordUsers) -> None:
    with _client(review_store, users) as laptop, _client(review_store, users) as thief, \
            _client(review_store, users) as other:
        _login(laptop), _login(other, user="auditor")
        captured, csrf = dict(laptop.cookies), _csrf(laptop.get("/items/1").text)
        thief.cookies.update(captured)
        assert _logged_in(thief)  # the copy works while the session lives
        laptop.post("/logout", data={"csrf": csrf})
        assert not _logged_in(thief)
        assert _resolve(thief, csrf) == 303 and _decisions(review_store) == 0
        assert _logged_in(other)  # another user's session is not touched
        _login(laptop)
        assert _logged_in(laptop)  # a new login after the logout works


def test_a_changed_password_ends_the_sessions_made_with_the_old_one(
        review_store: Engine, steward_hash: str) -> None:
    sessions = SessionGuard()  # one process; the user list is read again with a new hash
    before = PasswordUsers({"steward": steward_hash}, sessions=sessions)
    after = PasswordUsers({"steward": hash_password("a new passphrase 42")}, sessions=sessions)
    same = PasswordUsers({"steward": steward_hash}, sessions=sessions)
    with _client(review_store, before) as old:
        _login(old)
        cookie = dict(old.cookies)
    for users, valid in ((same, True), (after, False)):
        with _client(review_store, users) as c:
            c.cookies.update(cookie)
            assert _logged_in(c) is valid


def test_a_restart_does_not_bring_back_a_logged_out_cookie(
        review_store: Engine, steward_hash: str) -> None:
    with _client(review_store, PasswordUsers({"steward": steward_hash})) as c:
        _login(c)
        cookie = dict(c.cookies)
    restarted = PasswordUsers({"steward": steward_hash})  # same secret key, a new process
    with _client(review_store, restarted) as c:
        c.cookies.update(cookie)
        assert not _logged_in(c)
