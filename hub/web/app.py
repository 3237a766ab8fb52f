"""The review page: a data steward lists open conflicts and match candidates, compares the
records side by side, and decides. Decisions go through hub.review (StewardDecision +
AuditEntry) and take effect in the next run.

`custhub serve` runs it with the configured user list; plugins/custhub_review.py mounts the
same app in Airflow's UI with Airflow's login and roles (docs/adr/0006-review-page-auth.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import ConfigError, StoreError
from hub import review
from hub.web import steward, views
from hub.web.auth import Authenticator, PasswordUsers, csrf_ok, csrf_token

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)
SESSION_HOURS = 8
SECURITY_HEADERS = {
    # No inline script or style on these pages, so the policy can forbid both.
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
Text = Annotated[str, Form()]
READ_REFUSED = "Your role does not let you see the review queue."
DECIDE_REFUSED = "Your role lets you read the review queue but not decide; a steward role is needed for that."


class Forbidden(Exception):
    """A POST without a valid CSRF token."""


@dataclass(frozen=True)
class Backing:
    """What the page runs on: the hub store and how its session cookie is signed and sent."""

    engine: Engine
    secret_key: str
    secure_cookies: bool = False


def create_app(engine: Engine, auth: Authenticator, *, secret_key: str,
               secure_cookies: bool = False) -> FastAPI:
    backing = Backing(engine, secret_key, secure_cookies)
    return build_app(lambda: backing, auth)


def build_app(backing: Callable[[], Backing], auth: Authenticator) -> FastAPI:
    """The app with every route in place; ``backing`` is called on the first request only, so
    that building the app (as Airflow's API server does when it loads plugins) opens no store."""
    app = FastAPI(title="custhub review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.backing, app.state.auth = _Once(backing), auth
    app.add_middleware(_Sessions, backing=app.state.backing)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.globals["hub_ids_of"] = steward.hub_ids_of  # links every hub id an audit entry names
    env.filters["shown"] = steward.shown
    app.state.templates = Jinja2Templates(env=env)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return HTMLResponse("The form was stale or not sent by this page. Reload the page and try again.",
                            status_code=403)

    _routes(app)
    return app


class _Once:
    def __init__(self, make: Callable[[], Backing]) -> None:
        self._make = make
        self._made: Backing | None = None

    def __call__(self) -> Backing:
        if self._made is None:
            self._made = self._make()
        return self._made


class _Sessions:
    """Starlette's signed-cookie sessions, set up on the first request with the backing's secret."""

    def __init__(self, app: ASGIApp, backing: _Once) -> None:
        self._app, self._backing = app, backing
        self._inner: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan: nothing to open yet
            await self._app(scope, receive, send)
            return
        if self._inner is None:
            try:
                b = self._backing()
            except (ConfigError, StoreError) as e:  # tried again on the next request
                log.error("custhub review page: %s", e)
                await PlainTextResponse("The review page cannot open the hub store now; the server's log "
                                        "says why.", status_code=503)(scope, receive, send)
                return
            self._inner = SessionMiddleware(self._app, secret_key=b.secret_key,
                                            session_cookie="custhub_review", max_age=SESSION_HOURS * 3600,
                                            same_site="strict", https_only=b.secure_cookies)
        await self._inner(scope, receive, send)


def _engine(app: FastAPI) -> Engine:
    return app.state.backing().engine


def _routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, name="queue")
    async def queue(request: Request) -> Response:
        user = await app.state.auth.current_user(request)
        if user is None:
            return _to_login(request)
        if not await app.state.auth.may_read(request):
            return _not_allowed(request, user, READ_REFUSED)
        keep = _queue_filter(request)
        rows, total = views.queue(_engine(app), keep)
        return _page(request, "queue.html", user, can_decide=await app.state.auth.may_decide(request),
                     rows=rows, total=total, keep=keep, systems=views.queue_systems(_engine(app)))

    @app.get("/items/{item_id}", response_class=HTMLResponse, name="item")
    async def item(request: Request, item_id: int) -> Response:
        user = await app.state.auth.current_user(request)
        if user is None:
            return _to_login(request)
        if not await app.state.auth.may_read(request):
            return _not_allowed(request, user, READ_REFUSED)
        try:
            found = views.detail(_engine(app), item_id)
        except review.ReviewError as e:
            return _page(request, "message.html", user, status_code=404, message=str(e))
        return _page(request, "item.html", user, can_decide=await app.state.auth.may_decide(request), d=found)

    @app.post("/items/{item_id}/resolve", name="resolve")
    async def resolve(request: Request, item_id: int, csrf: Text, action: Text,
                      reason: Text = "", value: Text = "",
                      typed_value: Text = "") -> Response:
        user = await app.state.auth.current_user(request)
        _check_csrf(request, csrf)
        if user is None:
            return _to_login(request)
        if not await app.state.auth.may_decide(request):
            return _not_allowed(request, user, DECIDE_REFUSED)
        outcome = views.decide(_engine(app), item_id, user, action, reason.strip(), value.strip(),
                               typed_value.strip())
        if not outcome.recorded:  # the same page again, with why and what was typed
            return _refused(request, user, item_id, outcome.message, value, typed_value, reason)
        request.session["flash"] = outcome.message
        return RedirectResponse(request.url_for("queue"), status_code=303)

    _golden_routes(app)
    _steward_routes(app)
    _login_routes(app)


def _golden_routes(app: FastAPI) -> None:
    @app.get("/golden/{hub_id}", response_class=HTMLResponse, name="golden")
    async def golden(request: Request, hub_id: str,
                     from_: Annotated[str, Query(alias="from")] = "") -> Response:
        user = await _reader(request)
        if isinstance(user, Response):
            return user
        moved = steward.forwarded(_engine(app), hub_id)
        if moved is not None:  # merged away: its records, and so its page, are the survivor's now
            target = request.url_for("golden", hub_id=moved.hub_id).include_query_params(**{"from": hub_id})
            return RedirectResponse(str(target), status_code=303)
        found = steward.golden(_engine(app), hub_id)
        if found is None:
            return _page(request, "message.html", user, status_code=404, message=f"No hub id {hub_id}.")
        came = steward.forwarded(_engine(app), from_) if from_ else None
        return _page(request, "golden.html", user, can_decide=await app.state.auth.may_decide(request),
                     g=found, merged=came if came is not None and came.hub_id == hub_id else None)


def _steward_routes(app: FastAPI) -> None:
    @app.post("/golden/{hub_id}/xref", name="xref_op")
    async def xref_op(request: Request, hub_id: str) -> Response:
        form = await request.form()
        user = await app.state.auth.current_user(request)
        _check_csrf(request, str(form.get("csrf", "")))
        if user is None:
            return _to_login(request)
        if not await app.state.auth.may_decide(request):
            return _not_allowed(request, user, DECIDE_REFUSED)
        fields = {k: form.get(k, "") for k in ("system", "record_id", "other_hub_id")}
        outcome = steward.xref_change(_engine(app), hub_id, user, str(form.get("action", "")),
                                      str(form.get("reason", "")).strip(),
                                      {**fields, "records": form.getlist("records")})
        if not outcome.recorded:  # the same page again, saying why
            found = steward.golden(_engine(app), hub_id)
            if found is None:
                return _page(request, "message.html", user, status_code=404, message=outcome.message)
            return _page(request, "golden.html", user, status_code=422, can_decide=True, g=found,
                         merged=None, error=outcome.message)
        request.session["flash"] = outcome.message
        return RedirectResponse(request.url_for("golden", hub_id=hub_id), status_code=303)

    @app.get("/search", response_class=HTMLResponse, name="search")
    async def search(request: Request, q: str = "") -> Response:
        user = await _reader(request)
        if isinstance(user, Response):
            return user
        return _page(request, "search.html", user, q=q, hits=steward.search(_engine(app), q),
                     limit=steward.SEARCH_LIMIT)

    @app.get("/audit", response_class=HTMLResponse, name="audit")
    async def audit(request: Request, actor: str = "", action: str = "") -> Response:
        user = await _reader(request)
        if isinstance(user, Response):
            return user
        return _page(request, "audit.html", user, entries=steward.audit_trail(_engine(app), actor, action),
                     actor=actor, action=action, actions=steward.audit_actions(_engine(app)))


async def _reader(request: Request) -> str | Response:
    """The user, when logged in and allowed to read; else the response that turns them away."""
    user = await request.app.state.auth.current_user(request)
    if user is None:
        return _to_login(request)
    if not await request.app.state.auth.may_read(request):
        return _not_allowed(request, user, READ_REFUSED)
    return str(user)


def _queue_filter(request: Request) -> views.QueueFilter:
    """kind, system and older_than (days) from the query string; a malformed age is ignored."""
    params = request.query_params
    age = params.get("older_than", "").strip()
    return views.QueueFilter(params.get("kind", "").strip(), params.get("system", "").strip(),
                             int(age) if age.isdigit() else None)


def _login_routes(app: FastAPI) -> None:
    @app.get("/login", response_class=HTMLResponse, name="login_page")
    async def login_page(request: Request) -> Response:
        if not app.state.auth.login_form:
            return RedirectResponse(app.state.auth.login_url(request), status_code=303)
        return _page(request, "login.html", None)

    @app.post("/login", name="login")
    async def login(request: Request, csrf: Text, username: Text, password: Text) -> Response:
        _check_csrf(request, csrf)
        auth, name = app.state.auth, username.strip()
        if not isinstance(auth, PasswordUsers):
            return RedirectResponse(auth.login_url(request), status_code=303)
        address = request.client.host if request.client else "unknown"
        wait = auth.throttle.retry_after(name, address)
        if wait:  # checked before the password: no guess is tried, no scrypt is spent
            response = _page(request, "message.html", None, status_code=429,
                             message=f"Too many failed logins. Try again in {wait} seconds.")
            response.headers["Retry-After"] = str(wait)
            return response
        if not auth.check(name, password):
            auth.throttle.failed(name, address)
            request.session["flash"] = "Unknown user or wrong password."
            return RedirectResponse(request.url_for("login_page"), status_code=303)
        auth.log_in(request, name)
        return RedirectResponse(request.url_for("queue"), status_code=303)

    @app.post("/logout", name="logout")
    async def logout(request: Request, csrf: Text) -> Response:
        _check_csrf(request, csrf)
        if isinstance(app.state.auth, PasswordUsers):
            app.state.auth.log_out(request)
        request.session.clear()
        return RedirectResponse(request.url_for("login_page"), status_code=303)


def _refused(request: Request, user: str, item_id: int, message: str, value: str, typed: str,
             reason: str) -> Response:
    try:
        found = views.detail(_engine(request.app), item_id)
    except review.ReviewError as e:
        return _page(request, "message.html", user, status_code=404, message=str(e))
    return _page(request, "item.html", user, status_code=422, can_decide=True, d=found, error=message,
                 chosen=value, typed=typed, reason=reason)


def _check_csrf(request: Request, sent: str) -> None:
    if not csrf_ok(request, sent):
        raise Forbidden


def _not_allowed(request: Request, user: str, message: str) -> Response:
    return _page(request, "message.html", user, status_code=403, message=message)


def _to_login(request: Request) -> Response:
    return RedirectResponse(request.app.state.auth.login_url(request), status_code=303)


def _page(request: Request, template: str, user: str | None, status_code: int = 200, **context: Any) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, template, {"user": user, "csrf": csrf_token(request), "can_decide": None,
                            "flash": request.session.pop("flash", None), "kinds": views.KIND_TITLES,
                            **context}, status_code=status_code)
