"""hub.yaml is validated at start, and every problem names its file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hub.config import DEFAULT_CONFIG, load_config
from core.errors import ConfigError


def _write(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_configuration_is_valid() -> None:
    config = load_config(DEFAULT_CONFIG)
    assert config.enabled_systems() == ["crm", "accounting", "erp"]
    assert config.survivorship.rule_for("legal_name").sources[0] == "ares"


def test_an_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda raw: raw["systems"]["crm"].update(conn_idd="x"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value)
    assert "systems.crm.conn_idd" in str(error.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def break_two(raw: dict) -> None:
        raw["systems"]["crm"]["receives"] = ["legal_name", "shoe_size"]
        raw["systems"]["erp"]["kind"] = "carrier_pigeon"

    with pytest.raises(ConfigError) as error:
        load_config(_write(tmp_path, break_two))
    message = str(error.value)
    assert "shoe_size" in message and "systems.erp.kind" in message


def test_connector_settings_are_validated_by_the_connector(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda raw: raw["systems"]["accounting"]["connector"].update(
        view="v_customers; DROP TABLE customers"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "systems.accounting.connector.view" in str(error.value)


def test_survivorship_may_only_name_known_sources(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda raw: raw["survivorship"]["fields"]["email"].update(
        sources=["crm", "helpdesk"]))
    with pytest.raises(ConfigError, match="helpdesk"):
        load_config(path)


def test_the_store_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTHUB_STORE_URL", "postgresql+psycopg2://hub@db/hub")
    assert load_config().store_url == "postgresql+psycopg2://hub@db/hub"
