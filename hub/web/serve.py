"""Build the review app from the configuration: standalone with its user list, or for Airflow."""

from __future__ import annotations

import os
import secrets

from fastapi import FastAPI

from hub.config import HubConfig, load_config
from core.errors import ConfigError
from hub.pipeline.context import open_store
from hub.web.app import create_app
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
    """The app mounted in Airflow's API server: Airflow's login decides who the user is."""
    config = config or load_config()
    return create_app(open_store(config), AirflowUsers(), secret_key=_secret(config),
                      secure_cookies=config.review.secure_cookies)


def _secret(config: HubConfig) -> str:
    # Without a configured secret every start makes a new one: sessions end with a restart,
    # which is safe; set the variable when several workers must share sessions.
    return os.environ.get(config.review.session_secret_env) or secrets.token_urlsafe(32)
