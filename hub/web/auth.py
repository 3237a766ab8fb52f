"""Who may change data on the review page, and proof that a form was sent by our own page.

Two ways to know the user: a configured user list with password hashes (``custhub serve``,
every user may decide), or Airflow's own login when the app is mounted in Airflow's UI as a
plugin (Airflow's auth manager says who may read and who may decide: docs/adr/0006). Either
way a POST is accepted only with the per-session CSRF token, from a SameSite=strict cookie session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import Request

from core.errors import ConfigError
from hub.web.guard import LoginThrottle, SessionGuard

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_MIN_ITERATIONS = 200_000
SESSION_USER, SESSION_CSRF = "user", "csrf"


def hash_password(password: str) -> str:
    """An scrypt hash with its parameters and salt, as stored in hub.yaml."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        return _verify(password, stored)
    except ValueError:  # a malformed hash (bad base64 or parameters) never lets anyone in
        return False


def _verify(password: str, stored: str) -> bool:
    scheme, _, rest = stored.partition("$")
    parts = rest.split("$")
    if scheme == "scrypt" and len(parts) == 5:
        n, r, p = (int(x) for x in parts[:3])
        digest = hashlib.scrypt(password.encode(), salt=_unb64(parts[3]), n=n, r=r, p=p,
                                maxmem=256 * r * n + 2**20)
    elif scheme == "pbkdf2_sha256" and len(parts) == 3 and int(parts[0]) >= PBKDF2_MIN_ITERATIONS:
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(parts[1]), int(parts[0]))
    else:
        return False
    return hmac.compare_digest(digest, _unb64(parts[-1]))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def is_password_hash(text: str) -> bool:
    scheme, _, rest = text.partition("$")
    return (scheme == "scrypt" and rest.count("$") == 4) or (scheme == "pbkdf2_sha256" and rest.count("$") == 2)


class Authenticator(Protocol):
    """Who the request comes from; None when nobody is logged in."""

    login_form: bool

    async def current_user(self, request: Request) -> str | None: ...

    async def may_read(self, request: Request) -> bool: ...

    async def may_decide(self, request: Request) -> bool: ...

    def login_url(self, request: Request) -> str: ...


@dataclass(frozen=True)
class PasswordUsers:
    """Users and password hashes from hub.yaml (``review.users``) and the environment; failed
    logins are throttled and sessions can be ended (``hub.web.guard``)."""

    hashes: Mapping[str, str]
    login_form: bool = True
    sessions: SessionGuard = field(default_factory=SessionGuard)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    async def current_user(self, request: Request) -> str | None:
        name = request.session.get(SESSION_USER)
        if name not in self.hashes:  # a removed user is logged out at once
            return None
        return name if self.sessions.valid(request.session, name, self.hashes[name]) else None

    async def may_read(self, request: Request) -> bool:
        return await self.current_user(request) is not None

    async def may_decide(self, request: Request) -> bool:
        # hub.yaml lists stewards only: whoever may log in may decide
        return await self.current_user(request) is not None

    def log_in(self, request: Request, name: str) -> None:
        start_session(request, name)
        self.sessions.stamp(request.session, name, self.hashes[name])

    def log_out(self, request: Request) -> None:
        """End every session of the user behind this one (a cookie copied elsewhere too)."""
        name = request.session.get(SESSION_USER)
        if name in self.hashes and self.sessions.valid(request.session, name, self.hashes[name]):
            self.sessions.end_all(name)
        request.session.clear()

    def login_url(self, request: Request) -> str:
        return str(request.url_for("login_page"))

    def check(self, name: str, password: str) -> bool:
        # An unknown name costs the same scrypt as a known one: no timing hint of who exists.
        stored = self.hashes.get(name, _DUMMY_HASH)
        return verify_password(password, stored) and name in self.hashes


_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def configured_users(from_config: Mapping[str, str], env_name: str) -> dict[str, str]:
    """hub.yaml's users, plus or overridden by a JSON object {name: hash} in the environment
    (how a deployment passes users without editing hub.yaml)."""
    users = dict(from_config)
    raw = os.environ.get(env_name)
    if raw:
        try:
            extra = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{env_name}: not a JSON object of user name to password hash ({e.msg})") from None
        if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
            raise ConfigError(f"{env_name}: expected a JSON object of user name to password hash")
        users.update(extra)
    bad = sorted(name for name, value in users.items() if not is_password_hash(value))
    if bad:
        raise ConfigError(f"review users {bad}: a password hash is expected (custhub hash-password), "
                          "never a plain password")
    return users


class AirflowUsers:
    """The user Airflow's auth manager knows from its JWT (the UI's cookie, or a Bearer header),
    when mounted as a plugin. Who may read and who may decide is asked of the auth manager as
    access to the nightly DAG, whose next run applies a decision: GET to read, PUT to decide
    (docs/adr/0006-review-page-auth.md)."""

    login_form = False

    def __init__(self, dag_id: str) -> None:
        self.dag_id = dag_id

    async def current_user(self, request: Request) -> str | None:
        user = await self._user(request)
        return None if user is None else user.get_name()

    async def may_read(self, request: Request) -> bool:
        return await self._allowed(request, "GET")

    async def may_decide(self, request: Request) -> bool:
        return await self._allowed(request, "PUT")

    def login_url(self, request: Request) -> str:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().get_url_login(next_url=str(request.url))

    async def _allowed(self, request: Request, method: str) -> bool:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

        user = await self._user(request)
        return user is not None and get_auth_manager().is_authorized_dag(
            method=method, user=user, details=DagDetails(id=self.dag_id))  # type: ignore[arg-type]

    async def _user(self, request: Request) -> BaseUser | None:
        """Resolved once per request, the way Airflow's own API resolves it (a Bearer header first)."""
        if not hasattr(request.state, "custhub_user"):
            request.state.custhub_user = await _airflow_user(request)
        user: BaseUser | None = request.state.custhub_user
        return user


async def _airflow_user(request: Request) -> Any:
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import HTTPException
    from fastapi.security import HTTPAuthorizationCredentials

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if token else None
    try:
        return await get_user(request, _oauth_token=None, bearer_credentials=bearer)
    except HTTPException:
        return None  # no token, expired or invalid: the same as not logged in


def csrf_token(request: Request) -> str:
    """The session's token, made on first use; every form of the page carries it."""
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = request.session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, sent: str | None) -> bool:
    expected = request.session.get(SESSION_CSRF)
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        return False
    # Defence in depth: a browser names the site that sent the form; it must be this one
    # ("null", from a sandboxed frame or a file, is refused). No header: not a browser form.
    origin = request.headers.get("origin")
    return origin is None or origin.split("://", 1)[-1] == request.headers.get("host", "")


def start_session(request: Request, user: str) -> None:
    """A fresh session at login: a token issued before login is never reused after it."""
    request.session.clear()
    request.session[SESSION_USER] = user
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)
