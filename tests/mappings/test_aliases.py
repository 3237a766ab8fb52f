"""Aliases: a system's own spelling of a value, in a spec or hub-wide in hub.yaml."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from core.errors import ConfigError
from hub.config import DEFAULT_CONFIG, load_config
from mappings.engine import map_record
from mappings.errors import SpecError
from mappings.frames import map_frame
from mappings.spec import parse_spec
from tests.mappings.test_frames import assert_same_as_engine

SPEC = {"system": "x", "record_id": "id", "default_country": "CZ", "fields": {
    "country": {"source": "land", "normalizer": "country", "aliases": {"Tschechei": "CZ", "BR": "DE"}},
    "postal_code": {"source": "plz", "normalizer": "postal_code"}}}


def test_an_alias_is_read_before_the_normalizer_in_both_engines() -> None:
    spec = parse_spec(SPEC)
    rows = [{"id": "1", "land": " tschechei ", "plz": "110 00"},
            {"id": "2", "land": "BR", "plz": "80331"},  # ISO BR is Brazil; this system means BRD
            {"id": "3", "land": "SRN", "plz": "D-80331"},  # the shipped table knows SRN
            {"id": "4", "land": "Brasil", "plz": "1"}]
    assert map_record(spec, rows[1]).country == "DE"
    assert map_record(spec, rows[0]).country == "CZ"
    assert_same_as_engine(spec, rows, map_frame(spec, pl.DataFrame(rows)))


def test_an_alias_to_no_country_fails_when_the_spec_loads() -> None:
    bad = SPEC | {"fields": {"country": {"source": "land", "normalizer": "country",
                                         "aliases": {"Tschechei": "Bohemia"}}}}
    with pytest.raises(SpecError, match="alias 'Tschechei'"):
        parse_spec(bad)


def _config(tmp_path: Path, aliases: object) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw.setdefault("mapping", {})["country_aliases"] = aliases
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_hub_yaml_aliases_reach_every_spec(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, {"Tschechei": "CZ", "Bundesrep.": "DE"}))
    spec = config.spec("accounting")
    assert map_record(spec, {"customer_no": "1", "country": "Bundesrep."}).country == "DE"
    assert map_record(config.spec("crm"), {"AccountId": "1", "CountryCode": "Tschechei"}).country == "CZ"


def test_hub_yaml_aliases_are_checked_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(_config(tmp_path, {"Tschechei": "CZE", "Mars": "XX"}))
    assert "mapping.country_aliases" in str(error.value)
    assert "'Tschechei': 'CZE'" in str(error.value) and "'Mars': 'XX'" in str(error.value)
