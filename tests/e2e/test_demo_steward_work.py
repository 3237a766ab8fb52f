"""The first `make demo` leaves a data steward work, and `make demo-review`'s page shows it.

The demo's own estate (SandboxEstate's defaults, as sandbox/demo.py starts it) and the demo's
own nights (sandbox.demo.demo_nights); each night runs the pipeline the nightly_batch DAG's
tasks run, in-process instead of through `dag.test()`. The page is the app `custhub serve`
builds from hub.yaml, with the demo's steward login (sandbox.demo_review).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.config import HubConfig
from hub.pipeline.context import open_store
from hub.pipeline.nightly import run_nightly
from hub.store.db import session_scope
from hub.store.models import Quarantine, RegistryCheck, ReviewItem
from hub.web.serve import standalone_app
from sandbox.demo import demo_nights
from sandbox.demo_review import demo_login
from sandbox.estate import SandboxEstate
from sandbox.steward_work import DUPLICATE_ID
from tests.fixtures.estate import _started

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def demo_estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxEstate]:
    yield from _started(SandboxEstate(tmp_path / "estate"), monkeypatch)


def _night(config: HubConfig) -> tuple[str, str]:
    done = run_nightly(config)
    return ("success" if done.status == "succeeded" else done.status), done.run_id


def _open_items(config: HubConfig) -> dict[str, list[ReviewItem]]:
    found: dict[str, list[ReviewItem]] = {}
    with session_scope(open_store(config)) as session:
        for item in session.scalars(select(ReviewItem).where(ReviewItem.status == "open")):
            session.expunge(item)
            found.setdefault(item.kind, []).append(item)
    return found


def _open_quarantine(config: HubConfig) -> list[tuple[str, str]]:
    with session_scope(open_store(config)) as session:
        return [(q.system, q.record_key) for q in session.scalars(
            select(Quarantine).where(Quarantine.resolved_at.is_(None)))]


def _logged_in(client: TestClient, user: str, password: str) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token, "the login form carries a CSRF token"
    return client.post("/login", data={"csrf": token.group(1), "username": user, "password": password}).text


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_the_first_demo_leaves_a_steward_work_the_review_page_lists(
        hub_config: HubConfig, demo_estate: SandboxEstate, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    nights = demo_nights(demo_estate, True, lambda: _night(hub_config))
    assert [state for state, _ in nights] == ["success", "success"]

    items = _open_items(hub_config)
    conflicts, candidates = items.get("conflict", []), items.get("match_candidate", [])
    assert [(c.field, c.run_id) for c in conflicts] == [("email", nights[1][1])]
    assert {k.split(":")[0] for k in conflicts[0].candidates if k != "golden"} == {"crm", "erp"}
    assert candidates and all(DUPLICATE_ID in (c.record_id, c.other_record_id) for c in candidates)
    assert all(0.6 <= c.candidates["probability"] < 0.9 for c in candidates), "between the thresholds"
    assert set(_open_quarantine(hub_config)) == {("crm", "CRM-BROKEN-1"), ("accounting", "ACC-BROKEN-1")}

    with session_scope(open_store(hub_config)) as session:  # the demo's VIES connection names a requester
        answered = session.execute(select(RegistryCheck.request_identifier).where(
            RegistryCheck.registry_name == "vies", RegistryCheck.status.in_(("valid", "invalid")))).scalars().all()
    assert answered and all((ident or "").startswith("WAPI") for ident in answered), "consultation numbers"

    user, password, hashed = demo_login(tmp_path / "demo")
    assert (tmp_path / "demo" / "review-login.json").stat().st_mode & 0o077 == 0, "the login is yours only"
    monkeypatch.setenv(hub_config.review.users_env, json.dumps({user: hashed}))
    with TestClient(standalone_app(hub_config), base_url="http://127.0.0.1:8750") as client:
        queue = _logged_in(client, user, password)
        for item in conflicts + candidates:
            assert f"/items/{item.id}" in queue, f"the queue lists {item.kind} {item.id}"
        conflict = client.get(f"/items/{conflicts[0].id}").text
        assert all(v in conflict for k, v in conflicts[0].candidates.items() if k != "golden")
        assert DUPLICATE_ID in client.get(f"/items/{candidates[0].id}").text
