"""What every pipeline step receives: the configuration, the store and the run it works for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alembic.util.exc import CommandError
from sqlalchemy import Engine, make_url, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.errors import StoreError
from hub.config import REGISTRY_KINDS, HubConfig, connector_class, load_config
from hub.connections import get_connection
from hub.store.db import make_engine, migrate
from hub.store.models import RunMetric


@dataclass(frozen=True)
class RunContext:
    config: HubConfig
    engine: Engine
    run_id: str



def open_store(config: HubConfig) -> Engine:
    """The hub store, its schema brought up to date; a store that cannot be opened is a StoreError."""
    try:
        engine = make_engine(config.store_url)
        migrate(engine)
    # ImportError: the URL names a driver not installed; CommandError: a newer custhub migrated it
    except (SQLAlchemyError, OSError, ImportError, CommandError) as e:
        raise StoreError(f"cannot open the hub store {_shown(config.store_url)}: {_first_line(e)}") from e
    return engine


def _shown(url: str) -> str:
    """The URL without its password; an unreadable URL is not shown at all (it may hold one)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(an unreadable URL)"


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0] if text else error.__class__.__name__


def context_for(run_id: str, config: HubConfig | None = None) -> RunContext:
    config = config or load_config()
    return RunContext(config=config, engine=make_engine(config.store_url), run_id=run_id)


def build_connector(config: HubConfig, name: str) -> Any:
    """The connector for a system or a registry, its settings validated, its secret from Airflow."""
    block = config.systems.get(name) or config.registries[name]
    cls = connector_class(block.kind)
    settings = cls.Settings.model_validate(block.connector)
    conn = get_connection(block.conn_id)
    if block.kind in REGISTRY_KINDS:
        return cls(settings, conn)
    if block.kind == "sftp_files":
        # The spec states the file format (core.formats.FileFormat), the connector reads and
        # writes by that same object; a spec without one leaves the connector's own setting.
        return cls(name, settings, conn, file_format=config.spec(name).format)
    return cls(name, settings, conn)


def set_metric(session: Session, run_id: str, system: str, metric: str, value: int) -> None:
    """Record a step's figure; a re-run of the step overwrites it, so figures never double."""
    session.merge(RunMetric(run_id=run_id, system=system, metric=metric, value=value))


def metrics(session: Session, run_id: str) -> dict[tuple[str, str], int]:
    rows = session.scalars(select(RunMetric).where(RunMetric.run_id == run_id))
    return {(m.system, m.metric): m.value for m in rows}

