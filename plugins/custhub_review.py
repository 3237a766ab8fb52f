"""Airflow 3 plugin: the custhub review page inside Airflow's UI, behind Airflow's login and roles.

Airflow's API server mounts ``fastapi_apps`` under their url_prefix, so the page's routes and
its static files are part of Airflow's routing (``url_for`` works under the prefix); the external
view adds a "Review queue" entry to Airflow's navigation. Every Airflow component loads plugins,
only the API server mounts apps: the app is built when ``fastapi_apps`` is first read, and the
hub store is opened on the first request (docs/adr/0006-review-page-auth.md).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/custhub"


@cache
def review_apps() -> list[dict[str, Any]]:
    from hub.web.serve import airflow_app

    return [{"app": airflow_app(), "url_prefix": URL_PREFIX, "name": "custhub review"}]


class _BuiltOnFirstRead:
    """A class attribute computed when read: importing the plugin stays cheap (about 1 s of
    imports saved in the scheduler, the DAG processor and every task)."""

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        return review_apps()


class CusthubReviewPlugin(AirflowPlugin):
    name = "custhub_review"
    fastapi_apps = _BuiltOnFirstRead()  # type: ignore[assignment]
    external_views = [{"name": "Review queue", "href": f"{URL_PREFIX}/", "destination": "nav",
                       "url_route": "custhub-review", "category": "custhub"}]
