"""Airflow 3 plugin: the custhub review page inside Airflow's UI, behind Airflow's login.

Airflow's API server mounts ``fastapi_apps`` under their url_prefix; the external view adds a
"Review queue" entry to Airflow's navigation. The app is built lazily on first request, so
that loading plugins (which every Airflow component does) opens no database.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/custhub"


class _LazyReviewApp:
    """An ASGI app that builds the real one on first use."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self._app is None:
            from hub.web.serve import airflow_app

            self._app = airflow_app()
        await self._app(scope, receive, send)


class CusthubReviewPlugin(AirflowPlugin):
    name = "custhub_review"
    fastapi_apps = [{"app": _LazyReviewApp(), "url_prefix": URL_PREFIX, "name": "custhub review"}]
    external_views = [{"name": "Review queue", "href": f"{URL_PREFIX}/", "destination": "nav",
                       "url_route": "custhub-review", "category": "custhub"}]
