"""The ``orchestration`` section of hub.yaml: how Airflow runs the hub (owner, schedules,
retries, pools, alerts). Its own light module, because DAG files read it at parse time: it
imports pydantic and YAML only, never the connectors or the matching engine that the full
configuration (hub.config, which includes this model) validates against.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, ValidationError,
                      model_validator)

from core.errors import ConfigError
from core.validation import Problem, as_mapping, describe, validate_all

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "hub.yaml"
CONFIG_ENV = "CUSTHUB_CONFIG"  # the same variable hub.config reads


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolConfig(_Strict):
    slots: int = Field(1, ge=1)
    description: str = ""


class AlertConfig(_Strict):
    """Where a failed task is reported; each channel is optional, its secret in an Airflow connection."""

    webhook_conn_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    email_conn_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    email_to: list[str] = []
    timeout_seconds: float = Field(10, gt=0, le=120)


class StoreWait(_Strict):
    """How a DAG run waits at its start while another run holds the hub store: a look every
    ``poke_seconds`` (the worker slot given back in between), failing after ``timeout_minutes``."""

    poke_seconds: int = Field(30, ge=1, le=3600)
    timeout_minutes: int = Field(360, ge=1)


class PartitionConfig(_Strict):
    """Into how many partitions a step splits each system's records, one Airflow task each
    (dynamic task mapping). 1: one task per system. Only the map step splits today; the limit
    keeps a typo from fanning a system out into thousands of tasks."""

    map: int = Field(1, ge=1, le=64)


class OrchestrationConfig(_Strict):
    owner: str = "custhub"
    timezone: str = "Europe/Prague"
    schedules: dict[Literal["crm_sync", "nightly_batch", "registry_refresh"], str] = {
        "crm_sync": "*/15 * * * *", "nightly_batch": "0 2 * * *", "registry_refresh": "0 4 * * 1"}
    retries: int = Field(3, ge=1)
    retry_delay_seconds: int = Field(60, ge=1)
    max_retry_delay_seconds: int = Field(1800, ge=1)
    hub_store_pool: str = "custhub_hub_store"
    registry_pools: dict[str, str] = {"ares": "custhub_ares", "vies": "custhub_vies",
                                      "isir": "custhub_isir"}
    pools: dict[str, PoolConfig] = {}
    crm_sync_system: str = "crm"
    backfill_max_days: int = Field(31, ge=1)
    store_wait: StoreWait = StoreWait()
    partitions: PartitionConfig = PartitionConfig()
    alerts: AlertConfig = AlertConfig()

    @model_validator(mode="wrap")
    @classmethod
    def _pools_declared(cls, data: Any, handler: ModelWrapValidatorHandler[OrchestrationConfig]
                        ) -> OrchestrationConfig:
        """Checked on the input, so that a bad schedule or alert hides no undeclared pool."""
        return validate_all(data, handler, _undeclared_pools(data))


def _undeclared_pools(data: Any) -> list[Problem]:
    raw = as_mapping(data)
    declared = as_mapping(raw.get("pools"))
    if not declared:
        return []  # no pools declared: Airflow's default pool serves every task
    fields = OrchestrationConfig.model_fields
    used = {("hub_store_pool",): raw.get("hub_store_pool", fields["hub_store_pool"].default)}
    pools = as_mapping(raw.get("registry_pools", fields["registry_pools"].default))
    used |= {("registry_pools", name): pool for name, pool in pools.items()}
    return [(loc, f"pool {pool!r} is used but not declared in pools")
            for loc, pool in used.items() if isinstance(pool, str) and pool not in declared]


def load_orchestration(path: str | Path | None = None) -> OrchestrationConfig:
    """Only the orchestration section, every problem reported at once."""
    source, raw = _read_raw(path)
    try:
        return OrchestrationConfig.model_validate(raw.get("orchestration") or {})
    except ValidationError as e:
        problems = [f"  {source}: orchestration.{key}: {message}" for key, message in describe(e)]
        raise ConfigError("\n".join([f"{len(problems)} problem(s) in the configuration {source}:",
                                     *problems])) from None


def enabled_registry_names(path: str | Path | None = None) -> list[str]:
    """The registries a DAG wires a check task for, read as cheaply."""
    _, raw = _read_raw(path)
    registries = raw.get("registries") or {}
    return [name for name, block in registries.items() if (block or {}).get("enabled", True)]


def _read_raw(path: str | Path | None) -> tuple[Path, dict[str, Any]]:
    source = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{source}: cannot read configuration: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of sections")
    return source, raw
