"""Password hashes, where users come from, and the Airflow plugin that mounts the page."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from core.errors import ConfigError
from hub.web.auth import configured_users, verify_password

ROOT = Path(__file__).resolve().parents[3]


def test_scrypt_hash_verifies_only_its_password(steward_hash: str, review_password: str) -> None:
    assert steward_hash.startswith("scrypt$16384$8$1$") and review_password not in steward_hash
    assert verify_password(review_password, steward_hash)
    assert not verify_password(review_password + "x", steward_hash)


def test_a_malformed_hash_lets_nobody_in() -> None:
    assert not verify_password("x", "scrypt$16384$8$1$not-base64!$AAAA")
    assert not verify_password("x", "scrypt$many$8$1$AAAA$AAAA")


def test_pbkdf2_hashes_are_accepted_with_enough_iterations() -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"secret-pass", salt, 300_000)
    stored = f"pbkdf2_sha256$300000${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert verify_password("secret-pass", stored)
    weak = hashlib.pbkdf2_hmac("sha256", b"secret-pass", salt, 1000)
    assert not verify_password("secret-pass", f"pbkdf2_sha256$1000${base64.b64encode(salt).decode()}$"
                                              f"{base64.b64encode(weak).decode()}")


def test_a_plain_password_in_the_configuration_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUSTHUB_REVIEW_USERS", raising=False)
    with pytest.raises(ConfigError, match=r"\['alice'\]: a password hash is expected") as error:
        configured_users({"alice": "hunter2hunter2"}, "CUSTHUB_REVIEW_USERS")
    assert "hunter2" not in str(error.value), "the secret is never repeated in a message"


def test_users_from_the_environment_join_the_configured_ones(monkeypatch: pytest.MonkeyPatch,
                                                           steward_hash: str) -> None:
    monkeypatch.setenv("CUSTHUB_REVIEW_USERS", json.dumps({"bob": steward_hash}))
    assert set(configured_users({"alice": steward_hash}, "CUSTHUB_REVIEW_USERS")) == {"alice", "bob"}
    monkeypatch.setenv("CUSTHUB_REVIEW_USERS", "bob=x")
    with pytest.raises(ConfigError, match="not a JSON object"):
        configured_users({}, "CUSTHUB_REVIEW_USERS")


def test_the_airflow_plugin_mounts_the_app_under_a_free_prefix() -> None:
    spec = importlib.util.spec_from_file_location("custhub_review", ROOT / "plugins" / "custhub_review.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES

    (mounted,) = module.CusthubReviewPlugin.fastapi_apps
    assert mounted["url_prefix"] == "/custhub" and callable(mounted["app"])
    assert not any(mounted["url_prefix"].startswith(p) for p in RESERVED_URL_PREFIXES)
    assert module.CusthubReviewPlugin.external_views[0]["href"] == "/custhub/"


def test_serve_refuses_to_start_without_users(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.config import load_config
    from hub.web.serve import standalone_app

    monkeypatch.delenv("CUSTHUB_REVIEW_USERS", raising=False)
    with pytest.raises(ConfigError, match="no review users: run `custhub hash-password`"):
        standalone_app(load_config())
