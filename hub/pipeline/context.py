"""What every pipeline step receives: the configuration, the store and the run it works for."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

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
    engine = make_engine(config.store_url)
    migrate(engine)
    return engine


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
    return _with_extras(cls, name, settings, conn, block)


def _with_extras(cls: type, name: str, settings: Any, conn: Any, block: Any) -> Any:
    if block.kind == "sftp_files":
        from connectors.files.csv_format import FileFormat
        from mappings.engine import load_spec

        fmt = load_spec(block.mapping).format
        file_format = FileFormat(type=fmt.type, encoding=fmt.encoding, delimiter=fmt.delimiter,
                                 quotechar=fmt.quotechar)
        return cls(name, settings, conn, file_format=file_format)
    return cls(name, settings, conn)


def set_metric(session: Session, run_id: str, system: str, metric: str, value: int) -> None:
    """Record a step's figure; a re-run of the step overwrites it, so figures never double."""
    session.merge(RunMetric(run_id=run_id, system=system, metric=metric, value=value))


def metrics(session: Session, run_id: str) -> dict[tuple[str, str], int]:
    rows = session.scalars(select(RunMetric).where(RunMetric.run_id == run_id))
    return {(m.system, m.metric): m.value for m in rows}


def content_hash(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)
