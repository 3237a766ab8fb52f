"""Match settings shared by the matching tests: the hub's own rules from config/hub.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import yaml

from mappings.customer import CUSTOMER_FIELDS
from reconciliation.matching import MatchSettings

HUB_YAML = Path(__file__).resolve().parents[2] / "config" / "hub.yaml"


def hub_settings(**training: Any) -> MatchSettings:
    raw = yaml.safe_load(HUB_YAML.read_text(encoding="utf-8"))["matching"]
    raw["training"] = {**raw.get("training", {}), **training}
    return MatchSettings.model_validate(raw)


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {"system": pl.String, "record_id": pl.String, "hub_id": pl.String,
              **{f: pl.String for f in CUSTOMER_FIELDS}}
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)
