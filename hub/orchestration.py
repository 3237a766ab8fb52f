"""What the DAG files share: defaults, assets and schedules. Cheap to import at parse time.

This module reads only the ``orchestration`` section of hub.yaml (a small local file) and
imports nothing that reaches a network or a database: DAG files and hub.dag_steps import it at
top level; everything else (hub.tasks and the pipeline) is imported inside the tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import pendulum
from airflow.sdk import Asset

from hub.notifiers import failure_notifiers
from hub.orchestration_config import OrchestrationConfig, enabled_registry_names, load_orchestration

ASSET_GROUP = "custhub"
# The DAG ids other DAGs refer to (crm_sync pauses while the nightly batch runs).
NIGHTLY_DAG_ID = "nightly_batch"


@lru_cache(maxsize=1)
def settings() -> OrchestrationConfig:
    return load_orchestration()


def registry_pools() -> dict[str, str]:
    """Each enabled registry and the pool its checks run in (Airflow's default pool if none is set)."""
    pools = settings().registry_pools
    return {name: pools.get(name, "default_pool") for name in enabled_registry_names()}


def start_date() -> datetime:
    # A fixed date in the past: with catchup off, the first run is the next slot after deploy.
    return pendulum.datetime(2026, 1, 1, tz=settings().timezone)


def default_args() -> dict[str, Any]:
    """Every task: owned, retried with exponential backoff, and alerting when it fails for good."""
    cfg = settings()
    return {
        "owner": cfg.owner,
        "retries": cfg.retries,
        "retry_delay": timedelta(seconds=cfg.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=cfg.max_retry_delay_seconds),
        "on_failure_callback": failure_notifiers(cfg.alerts),
    }


def staged(system: str) -> Asset:
    """New or changed raw records of one system have been staged in the hub store."""
    return Asset(name=f"custhub_staged_{system}", uri=f"custhub://hub-store/source_record/{system}",
                 group=ASSET_GROUP)


# Golden records (and the outbox derived from them) were recomputed.
GOLDEN = Asset(name="custhub_golden_records", uri="custhub://hub-store/golden_record",
               group=ASSET_GROUP)
# Registry evidence (ARES facts, VIES validity, ISIR insolvency) was refreshed.
REGISTRY_CHECKS = Asset(name="custhub_registry_checks", uri="custhub://hub-store/registry_check",
                        group=ASSET_GROUP)
