"""The review page: a data steward lists open conflicts and match candidates, compares the
records side by side, and decides. Decisions go through hub.review (StewardDecision +
AuditEntry) and take effect in the next run.

`custhub serve` runs it with the configured user list; plugins/custhub_review.py mounts the
same app in Airflow's UI with Airflow's login.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware

from hub import review
from hub.web import views
from hub.web.auth import Authenticator, PasswordUsers, csrf_ok, csrf_token

HERE = Path(__file__).resolve().parent
SESSION_HOURS = 8
SECURITY_HEADERS = {
    # No inline script or style on these pages, so the policy can forbid both.
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
Text = Annotated[str, Form()]


class Forbidden(Exception):
    """A POST without a valid CSRF token."""


def create_app(engine: Engine, auth: Authenticator, *, secret_key: str,
               secure_cookies: bool = False) -> FastAPI:
    app = FastAPI(title="custhub review", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SessionMiddleware, secret_key=secret_key, session_cookie="custhub_review",
                       max_age=SESSION_HOURS * 3600, same_site="strict", https_only=secure_cookies)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.engine, app.state.auth = engine, auth
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
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


def _routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, name="queue")
    async def queue(request: Request) -> Response:
        user = await app.state.auth.current_user(request)
        if user is None:
            return _to_login(request)
        return _page(request, "queue.html", user, rows=views.queue(app.state.engine))

    @app.get("/items/{item_id}", response_class=HTMLResponse, name="item")
    async def item(request: Request, item_id: int) -> Response:
        user = await app.state.auth.current_user(request)
        if user is None:
            return _to_login(request)
        try:
            found = views.detail(app.state.engine, item_id)
        except review.ReviewError as e:
            return _page(request, "message.html", user, status_code=404, message=str(e))
        return _page(request, "item.html", user, d=found)

    @app.post("/items/{item_id}/resolve", name="resolve")
    async def resolve(request: Request, item_id: int, csrf: Text, action: Text,
                      reason: Text = "", value: Text = "",
                      typed_value: Text = "") -> Response:
        user = await app.state.auth.current_user(request)
        _check_csrf(request, csrf)
        if user is None:
            return _to_login(request)
        outcome = views.decide(app.state.engine, item_id, user, action, reason.strip(), value.strip(),
                               typed_value.strip())
        if not outcome.recorded:  # the same page again, with why and what was typed
            return _refused(request, user, item_id, outcome.message, value, typed_value, reason)
        request.session["flash"] = outcome.message
        return RedirectResponse(request.url_for("queue"), status_code=303)

    _login_routes(app)


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
        found = views.detail(request.app.state.engine, item_id)
    except review.ReviewError as e:
        return _page(request, "message.html", user, status_code=404, message=str(e))
    return _page(request, "item.html", user, status_code=422, d=found, error=message,
                 chosen=value, typed=typed, reason=reason)


def _check_csrf(request: Request, sent: str) -> None:
    if not csrf_ok(request, sent):
        raise Forbidden


def _to_login(request: Request) -> Response:
    return RedirectResponse(request.app.state.auth.login_url(request), status_code=303)


def _page(request: Request, template: str, user: str | None, status_code: int = 200, **context: Any) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, template, {"user": user, "csrf": csrf_token(request),
                            "flash": request.session.pop("flash", None), "kinds": views.KIND_TITLES,
                            **context}, status_code=status_code)
