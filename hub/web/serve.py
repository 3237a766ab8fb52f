"""Build the review app from the configuration: standalone with its user list, or for Airflow."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from fastapi import FastAPI

from hub.config import HubConfig, load_config
from core.errors import ConfigError
from hub.pipeline.context import open_store
from hub.web.app import Backing, build_app, create_app
from hub.web.auth import AirflowUsers, PasswordUsers, configured_users


def standalone_app(config: HubConfig | None = None) -> FastAPI:
    """The app `custhub serve` runs: users from hub.yaml and the environment, hashes only."""
    config = config or load_config()
    users = configured_users(config.review.users, config.review.users_env)
    if not users:
        raise ConfigError("no review users: run `custhub hash-password`, then add the hash under "
                          f"review.users in hub.yaml or to {config.review.users_env} "
                          "(a JSON object of name to hash)")
    return create_app(open_store(config), PasswordUsers(users), secret_key=_secret(config),
                      secure_cookies=config.review.secure_cookies)


def airflow_app(config: HubConfig | None = None) -> FastAPI:
    """The app mounted in Airflow's API server: Airflow's login and roles decide who may do what.
    Its routes exist at once; hub.yaml is read and the store opened on the first request."""
    from hub.orchestration import NIGHTLY_DAG_ID

    def backing() -> Backing:
        found = config or load_config()
        return Backing(open_store(found), _secret(found, _airflow_secret()), found.review.secure_cookies)

    return build_app(backing, AirflowUsers(NIGHTLY_DAG_ID))


def _secret(config: HubConfig, fallback: str | None = None) -> str:
    # Without a configured secret every start makes a new one: sessions end with a restart,
    # which is safe; set the variable when several workers must share sessions.
    return os.environ.get(config.review.session_secret_env) or fallback or secrets.token_urlsafe(32)


def _airflow_secret() -> str | None:
    """A key derived from Airflow's [api] secret_key, which every API server worker shares (a
    session begun in one worker holds in the others); the key itself is never used as is."""
    from airflow.configuration import conf

    shared = conf.get("api", "secret_key", fallback="")
    if not shared:
        return None
    return hmac.new(shared.encode(), b"custhub review session", hashlib.sha256).hexdigest()
