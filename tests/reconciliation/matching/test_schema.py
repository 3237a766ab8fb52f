"""A record schema file: every problem one line, ``file: dotted.key: what``, none hiding another."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from reconciliation.matching.schema import SchemaError, customer_schema, load_schema, parse_schema

PERSON = Path(__file__).resolve().parents[3] / "config" / "schemas" / "person.yaml"


def _person() -> dict:
    return yaml.safe_load(PERSON.read_text(encoding="utf-8"))


def _problems(raw: object, tmp_path: Path) -> list[str]:
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(raw) if not isinstance(raw, str) else raw, encoding="utf-8")
    with pytest.raises(SchemaError) as error:
        load_schema(path)
    assert isinstance(error.value, ConfigError)  # the CLI prints it and exits 1, no traceback
    lines = str(error.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    return [line.removeprefix(f"{path}: ") for line in lines]


def test_the_shipped_person_schema_loads_and_reads_only_its_fields() -> None:
    schema = load_schema(PERSON)
    assert schema.matching.keys == [] and schema.matching.probabilistic
    assert schema.matching.source_columns() <= set(schema.fields)
    assert schema.source("given_name") == "given_name"


def test_one_problem_is_one_line_naming_its_key(tmp_path: Path) -> None:
    raw = _person()
    raw["fields"]["surname"] = {"normalizer": "soundex"}
    [line] = _problems(raw, tmp_path)
    assert line.startswith("fields.surname.normalizer: ") and "unknown normalizer 'soundex'" in line


def test_every_problem_at_once_the_rules_checked_against_the_fields(tmp_path: Path) -> None:
    raw = _person()
    del raw["fields"]["postcode"]  # still compared and blocked on below
    raw["fields"]["record_id"] = {}  # a column the engine adds itself
    raw["fields"]["state"] = {"from": "STATE", "on_error": "ignore"}
    raw["matching"]["comparisons"][0]["levels"][0]["kind"] = "fuzzy"
    keys = [line.split(": ")[0] for line in _problems(raw, tmp_path)]
    assert keys == ["fields.state.on_error", "fields", "matching.comparisons.0.levels.0.kind",
                    "matching.blocking.6.0", "matching.comparisons.6.column"]


def test_a_schema_without_rules_or_with_rules_that_link_nothing(tmp_path: Path) -> None:
    raw = _person()
    del raw["matching"]
    assert [line.split(": ")[0] for line in _problems(raw, tmp_path)] == ["matching"]
    raw["matching"] = {"keys": []}
    [line] = _problems(raw, tmp_path)
    assert line.startswith("matching.keys: no key, and no blocking with comparisons")


def test_unreadable_files_are_one_line_too(tmp_path: Path) -> None:
    assert _problems("name: [unclosed", tmp_path)[0].startswith("not YAML: ")
    assert _problems("- a list", tmp_path)[0].startswith("a record schema is a mapping")
    with pytest.raises(SchemaError, match=r"cannot read the record schema") as error:
        load_schema(tmp_path / "missing.yaml")
    assert len(str(error.value).splitlines()) == 1


def test_the_customer_schema_is_the_hubs_rules_over_the_customer_fields() -> None:
    from hub.config import load_config

    matching = load_config().matching
    schema = customer_schema(matching)
    assert schema.matching is matching
    assert matching.source_columns() <= set(schema.fields)
    # Written out as a schema file's mapping, it reads back as the same rules.
    again = parse_schema(schema.model_dump(by_alias=True, exclude={"matching"}) | {
        "matching": matching.model_dump(by_alias=True)}).matching
    assert again.model_dump() == matching.model_dump()
