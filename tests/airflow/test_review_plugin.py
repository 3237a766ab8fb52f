"""The review page as Airflow users meet it: mounted by plugins/custhub_review.py in a running
`airflow api-server`, behind Airflow's own login (the simple auth manager with an `op` steward
and a `viewer`), its static files served under the plugin's prefix.

One api-server serves the whole module (it takes seconds to start); each user logs in through
Airflow's login endpoint and sends the JWT as the UI does, in the `_token` cookie.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from tests.fixtures.airflow import ROOT, write_test_config
from tests.fixtures.browser import Page

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

PREFIX = "/custhub"
USERS = {"steward": "op", "viewer": "viewer"}
CHOSEN = "Hlavní 1"
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(engine: Engine) -> tuple[int, int]:
    """One company whose CRM and accounting records disagree: two open conflicts, the first for
    the steward to decide, the second left open for the viewer."""
    from hub.store.db import session_scope
    from hub.store.models import CanonicalRecord, GoldenRecord, ReviewItem, Xref

    base = {"legal_name": "Kovo s.r.o.", "company_id": "25596641", "city": "Praha"}
    with session_scope(engine) as session:
        for system, record_id, street in (("crm", "CRM-1", "Nová 5"), ("accounting", "ACC1", CHOSEN)):
            session.add(CanonicalRecord(system=system, record_id=record_id, values={**base, "street": street},
                                        source_hash="h", run_id="r1"))
            session.add(Xref(system=system, record_id=record_id, hub_id="H00000001", rule="company_id",
                             run_id="r1", linked_at=T0))
        session.add(GoldenRecord(hub_id="H00000001", version=1, values={**base, "street": CHOSEN},
                                 lineage={f: {"source": "accounting", "record_id": "ACC1",
                                              "rule": "source_priority"} for f in (*base, "street")},
                                 is_current=True, run_id="r1", created_at=T0))
        items = [ReviewItem(kind="conflict", fingerprint=f"f-{field}", hub_id="H00000001", system="crm",
                            record_id="CRM-1", other_system="accounting", other_record_id="ACC1",
                            field=field, candidates=candidates, run_id="r1", created_at=T0,
                            reason=f"two trusted sources changed the {field} differently")
                 for field, candidates in (("street", {"crm": "Nová 5", "accounting": CHOSEN}),
                                           ("city", {"crm": "Praha", "accounting": "Praha 1"}))]
        session.add_all(items)
        session.flush()
        return items[0].id, items[1].id


class Server:
    def __init__(self, base: str, passwords: dict[str, str], engine: Engine, items: tuple[int, int]) -> None:
        self.base, self.passwords, self.engine = base, passwords, engine
        self.item_id, self.kept_id = items  # the steward decides the first; the second stays open

    def client(self, user: str | None) -> httpx.Client:
        """A client logged in through Airflow's login endpoint, as the UI would be."""
        cookies = {}
        if user is not None:
            login = {"username": user, "password": self.passwords[user]}
            answer = httpx.post(f"{self.base}/auth/token", json=login)
            assert answer.status_code == 201, answer.text
            cookies["_token"] = answer.json()["access_token"]
        return httpx.Client(base_url=self.base, cookies=cookies, timeout=30)


@pytest.fixture(scope="module")
def airflow_api(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from hub.store.db import make_engine, migrate

    tmp = tmp_path_factory.mktemp("review-plugin")
    store_url = f"sqlite:///{tmp / 'hub.db'}"
    engine = make_engine(store_url)
    migrate(engine)
    items = _seed(engine)
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    (tmp / "passwords.json").write_text(json.dumps(passwords), encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUSTHUB_CONFIG": str(write_test_config(tmp)),
           "CUSTHUB_STORE_URL": store_url,
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp / "passwords.json"),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
           "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
           "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32)}
    airflow = Path(sys.executable).parent / "airflow"
    log = (tmp / "api-server.log").open("wb")
    server = subprocess.Popen([str(airflow), "api-server", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server, tmp / "api-server.log")
        yield Server(base, passwords, engine, items)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _wait_until_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            if httpx.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the api-server did not answer: {log.read_text(errors='replace')[-3000:]}")


def _csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert found, "every page names the session's CSRF token"
    return found.group(1)


def _decisions(engine: Engine) -> list[tuple[str, dict]]:
    from hub.store.db import session_scope
    from hub.store.models import StewardDecision

    with session_scope(engine) as session:
        return [(d.decided_by, d.value) for d in session.scalars(select(StewardDecision))]


def test_an_anonymous_visitor_is_sent_to_airflows_login(airflow_api: Server) -> None:
    with airflow_api.client(None) as anonymous:
        answer = anonymous.get(f"{PREFIX}/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/auth/login?next=")


def test_the_steward_sees_the_queue_and_its_stylesheet(airflow_api: Server) -> None:
    with airflow_api.client("steward") as steward:
        queue = steward.get(f"{PREFIX}/")
        assert queue.status_code == 200, queue.text
        assert "signed in as <b>steward</b>" in queue.text
        assert f'href="{airflow_api.base}{PREFIX}/items/{airflow_api.item_id}"' in queue.text
        stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)">', queue.text).group(1)
        assert stylesheet == f"{airflow_api.base}{PREFIX}/static/review.css"
        css = steward.get(stylesheet)
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert "header" in css.text
        item = steward.get(f"{PREFIX}/items/{airflow_api.item_id}")
        assert item.status_code == 200 and 'id="choose-form"' in item.text
        plugins = steward.get("/api/v2/plugins").json()["plugins"]
    (plugin,) = [p for p in plugins if p["name"] == "custhub_review"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == [PREFIX]
    assert plugin["external_views"][0]["href"] == f"{PREFIX}/"


def test_a_viewer_reads_but_cannot_decide(airflow_api: Server) -> None:
    with airflow_api.client("viewer") as viewer:
        item = viewer.get(f"{PREFIX}/items/{airflow_api.kept_id}")
        assert item.status_code == 200 and "Kovo s.r.o." in item.text and "<b>open</b>" in item.text
        assert 'method="post"' not in item.text and "Read only" in item.text, "no decision buttons for a viewer"
        refused = viewer.post(f"{PREFIX}/items/{airflow_api.kept_id}/resolve",
                              data={"csrf": _csrf(item.text), "action": "choose_value", "value": "Praha 1",
                                    "reason": "I am only a viewer"}, follow_redirects=False)
    assert refused.status_code == 403
    assert "not decide" in refused.text, "refused for the role, with a valid CSRF token"
    assert "viewer" not in {by for by, _ in _decisions(airflow_api.engine)}


def test_golden_record_pages_answer_under_the_plugin_and_a_viewer_changes_no_xref(airflow_api: Server) -> None:
    from hub.store.db import session_scope
    from hub.store.models import Xref

    with airflow_api.client("steward") as steward:
        page = steward.get(f"{PREFIX}/golden/H00000001")
        assert page.status_code == 200 and 'id="merge-form"' in page.text, page.text
        found = steward.get(f"{PREFIX}/search", params={"q": "25596641"})
        assert f'href="{airflow_api.base}{PREFIX}/golden/H00000001"' in found.text
    with airflow_api.client("viewer") as viewer:
        page = viewer.get(f"{PREFIX}/golden/H00000001")
        assert page.status_code == 200 and 'method="post"' not in page.text
        refused = viewer.post(f"{PREFIX}/golden/H00000001/xref", follow_redirects=False,
                              data={"csrf": _csrf(page.text), "action": "split", "records": "crm:CRM-1",
                                    "reason": "I am only a viewer"})
    assert refused.status_code == 403 and "not decide" in refused.text
    with session_scope(airflow_api.engine) as session:
        assert session.get(Xref, ("crm", "CRM-1")).hub_id == "H00000001"


def test_the_stewards_decision_is_recorded_in_the_hub_store(airflow_api: Server) -> None:
    with airflow_api.client("steward") as steward:
        item = steward.get(f"{PREFIX}/items/{airflow_api.item_id}")
        decided = steward.post(f"{PREFIX}/items/{airflow_api.item_id}/resolve",
                               data={"csrf": _csrf(item.text), "action": "choose_value", "value": CHOSEN,
                                     "reason": "confirmed with the customer"}, follow_redirects=False)
        assert decided.status_code == 303
        assert decided.headers["location"] == f"{airflow_api.base}{PREFIX}/"
        queue = steward.get(decided.headers["location"])
    assert f"Decision recorded for item {airflow_api.item_id}" in queue.text
    assert _decisions(airflow_api.engine) == [("steward", {"value": CHOSEN})]


def test_importing_the_plugin_builds_nothing() -> None:
    """Every Airflow component imports plugins; only the API server reads fastapi_apps."""
    probe = ("import runpy, sys; runpy.run_path(sys.argv[1]); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hub', 'mappings')))")
    plugin = ROOT / "plugins" / "custhub_review.py"
    done = subprocess.run([sys.executable, "-c", probe, str(plugin)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_in_chromium_a_viewer_logs_in_on_airflows_page_and_reads(airflow_api: Server,
                                                                browser_page: Page) -> None:
    """The whole path a person takes: the page sends to Airflow's login form, which sends back."""
    page, queue = browser_page, f"{airflow_api.base}{PREFIX}/"
    page.goto(queue)
    assert page.url.startswith(f"{airflow_api.base}/auth/login?next="), page.url
    _wait_for(page, "input[name=username]")
    page.type_into("input[name=username]", "viewer")
    page.type_into("input[name=password]", airflow_api.passwords["viewer"])
    page.click("button[type=submit]")
    assert page.url == queue, "Airflow's login sends back to the review queue"
    page.goto(f"{queue}items/{airflow_api.kept_id}")
    assert "signed in as viewer" in page.text("header") and "Read only" in page.text()
    assert "status open" in page.text(), "an open item, which a steward would see forms for"
    assert page.evaluate("document.querySelectorAll('form[method=post]').length") == 0, \
        "no decision buttons for a viewer (the header's search is a GET form)"
    header = page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
    assert header == "rgb(31, 59, 87)", "review.css is served and applied under the plugin's prefix"
    page.screenshot("review-in-airflow-viewer")


def _wait_for(page: Page, selector: str) -> None:
    """Airflow's login form is drawn by script after the page loads."""
    deadline = time.monotonic() + 30
    while not page.evaluate(f"!!document.querySelector({json.dumps(selector)})"):
        assert time.monotonic() < deadline, f"{selector} never appeared on {page.url}"
        time.sleep(0.1)
