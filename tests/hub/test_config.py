"""hub.yaml is validated at start, and every problem names its file and key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from hub.config import DEFAULT_CONFIG, load_config
from hub.orchestration_config import load_orchestration
from mappings.spec import SPECS_DIR


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


# -- ten mistakes across hub.yaml's sections and a mapping spec, all in one load ----------------

CUSTHUB = [sys.executable, "-c", "from hub.cli import main; main()"]
IN_CONFIG = ["report_dri", "systems.crm.receives.1", "systems.erp.connector.page_size",
             "registries.vies.connector.max_workers", "matching.keys", "matching.thresholds",
             "survivorship.fields.shoe_size", "survivorship.fields.email.sources.1"]
IN_SPEC = ["fields.phone.normalizer", "fields.telefon"]


def _plant_ten(tmp_path: Path) -> tuple[Path, Path]:
    """hub.yaml and the spec its erp system names, with the ten mistakes above."""
    spec = yaml.safe_load((SPECS_DIR / "erp.yaml").read_text(encoding="utf-8"))
    spec["fields"] = {"phone": {"source": "TELEFON", "normalizer": "phon"},  # an unknown normalizer,
                      "telefon": {"source": "TEL2"}}  # then a field that is no Customer field
    spec_file = tmp_path / "specs" / "bad.yaml"
    spec_file.parent.mkdir()
    spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")

    def plant(raw: dict) -> None:
        raw["report_dri"] = "x"
        raw["systems"]["crm"]["receives"] = ["legal_name", "shoe_size"]
        raw["systems"]["erp"]["mapping"] = "specs/bad.yaml"  # relative: to where custhub runs
        raw["systems"]["erp"]["connector"]["page_size"] = 0
        raw["registries"]["vies"]["connector"]["max_workers"] = "many"
        raw["matching"] |= {"keys": [], "thresholds": {"link": 0.6, "review": 0.9}}
        raw["survivorship"]["fields"]["shoe_size"] = {"sources": ["crm"]}
        raw["survivorship"]["fields"]["email"]["sources"] = ["crm", "helpdesk"]

    return _write(tmp_path, plant), spec_file.relative_to(tmp_path)


def _reported(message: str) -> list[tuple[str, str]]:
    """(file, key) of every problem line of a ConfigError's message (after its heading)."""
    return [(line.strip().split(": ")[0], line.strip().split(": ")[1])
            for line in message.splitlines()[1:]]


def _ten(config: Path | str, spec: Path) -> list[tuple[str, str]]:
    return [(str(config), key) for key in IN_CONFIG] + [(str(spec), key) for key in IN_SPEC]


def test_ten_mistakes_are_reported_in_one_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, spec = _plant_ten(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_config(config)
    message = str(error.value)
    assert message.startswith(f"10 problem(s) in the configuration {config}:")
    assert sorted(_reported(message)) == sorted(_ten(config, spec))


def test_ten_mistakes_are_one_error_of_the_cli(tmp_path: Path) -> None:
    config, spec = _plant_ten(tmp_path)
    result = subprocess.run([*CUSTHUB, "status", "--config", config.name], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: 10 problem(s) in the configuration hub.yaml:")
    assert sorted(_reported(result.stderr)) == sorted(_ten(config.name, spec))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hub.yaml", "specs"]  # nothing created


def test_match_rules_may_only_name_customer_fields_and_features(tmp_path: Path) -> None:
    def plant(raw: dict) -> None:
        raw["matching"]["blocking"] = [["name_core"], ["shoe_colour"], []]
        raw["matching"]["comparisons"][0] |= {"column": "shoe_size"}
        raw["matching"]["comparisons"][1]["levels"][0] |= {"kind": "fuzzy"}  # hides none of them
        raw["matching"]["features"]["city_fold"]["from"] = "town"

    with pytest.raises(ConfigError) as error:
        load_config(path := _write(tmp_path, plant))
    keys = [key for _, key in _reported(str(error.value))]
    assert sorted(keys) == ["matching.blocking.1.0", "matching.blocking.2", "matching.comparisons.0.column",
                            "matching.comparisons.1.levels.0.kind", "matching.features.city_fold.from"]
    assert f"{path}: matching.blocking.1.0: unknown column 'shoe_colour'" in str(error.value)


def test_a_run_maps_with_the_specs_validated_at_load(tmp_path: Path) -> None:
    spec_file = tmp_path / "erp.yaml"
    spec_file.write_text((SPECS_DIR / "erp.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    config = load_config(_write(tmp_path, lambda raw: raw["systems"]["erp"].update(mapping=str(spec_file))))
    spec_file.write_text("system: [broken", encoding="utf-8")  # no step reads the YAML again
    assert config.spec("erp").record_id == "PARTNER_ID"
    assert config.spec("erp") is config.model_copy().spec("erp")


def test_an_undeclared_pool_is_found_beside_another_orchestration_problem(tmp_path: Path) -> None:
    def plant(raw: dict) -> None:
        raw["orchestration"] |= {"retries": 0, "hub_store_pool": "custhub_everything"}
        raw["orchestration"]["registry_pools"]["vies"] = "custhub_eu"

    path = _write(tmp_path, plant)
    expected = [(str(path), "orchestration.retries"), (str(path), "orchestration.hub_store_pool"),
                (str(path), "orchestration.registry_pools.vies")]
    for load in (load_config, load_orchestration):  # the DAG files' light reader says the same
        with pytest.raises(ConfigError) as error:
            load(path)
        assert sorted(_reported(str(error.value))) == sorted(expected)
