from pathlib import Path

import pytest

from mappings.errors import SpecError
from mappings.spec import SPECS_DIR, Template, load_spec, parse_spec

MINIMAL = {"system": "x", "record_id": "id", "fields": {"legal_name": {"source": "name"}}}


def _spec(**changes: object) -> dict:
    return MINIMAL | changes


@pytest.mark.parametrize("name", ["crm", "accounting", "erp", "ares"])
def test_shipped_specs_load(name: str) -> None:
    spec = load_spec(name)
    assert spec.system == name
    assert load_spec(SPECS_DIR / f"{name}.yaml") == spec


def test_erp_file_format() -> None:
    spec = load_spec("erp")
    assert spec.record_id == "PARTNER_ID"
    assert spec.format is not None
    assert (spec.format.type, spec.format.encoding, spec.format.delimiter) == ("csv", "cp1250", ";")
    assert (spec.format.quotechar, spec.format.decimal_comma) == ('"', True)
    assert load_spec("crm").format is None


def test_text_is_the_default_normalizer() -> None:
    assert parse_spec(MINIMAL).fields["legal_name"].normalizer == "text"


def _problems(document: dict) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_spec(document, source="test.yaml")
    return [(p.key, p.message) for p in caught.value.problems]


def test_unknown_key_is_named() -> None:
    document = _spec(fields={"phone": {"source": "Phone", "normaliser": "phone"}})
    assert _problems(document)[0][0] == "fields.phone.normaliser"


def test_all_problems_at_once_with_file_and_key() -> None:
    document = {"system": "x", "fields": {"phone": {"source": "P", "normalizer": "phon"}},
                "extra": 1}
    with pytest.raises(SpecError) as caught:
        parse_spec(document, source="crm.yaml")
    text = str(caught.value)
    assert "crm.yaml: record_id: Field required" in text
    assert "crm.yaml: fields.phone.normalizer: unknown normalizer 'phon'" in text
    assert "crm.yaml: extra:" in text


def test_unknown_canonical_field() -> None:
    problems = _problems(_spec(fields={"telefon": {"source": "T"}}))
    assert problems == [("fields.telefon", "'telefon' is not a canonical Customer field")]


def test_an_unknown_normalizer_hides_no_later_problem() -> None:
    fields = {"phone": {"source": "P", "normalizer": "phon"}, "telefon": {"source": "T"},
              "registry_status": {"source": "S", "default": "actve", "write": False},
              "legal_name": {"source": "N"}, "legal_form": {"source": "N"}}
    keys = [key for key, _ in _problems(_spec(fields=fields, default_country="Czechia"))]
    assert keys == ["default_country", "fields.phone.normalizer", "fields.telefon",
                    "fields.registry_status.default", "fields.legal_form"]


def test_list_of_sources_needs_a_template() -> None:
    problems = _problems(_spec(fields={"street": {"source": ["a", "b"]}}))
    assert "needs a template" in problems[0][1]


def test_template_must_name_the_sources() -> None:
    rule = {"source": ["s.ulice", "s.cislo"], "template": "{ulice} {cislo_typo}", "write": False}
    assert "template placeholders" in _problems(_spec(fields={"street": rule}))[0][1]


def test_composed_or_nested_fields_cannot_be_written() -> None:
    rule = {"source": "sidlo.nazevObce"}
    assert "set write: false" in _problems(_spec(fields={"city": rule}))[0][1]
    parse_spec(_spec(fields={"city": rule}, read_only=True))  # a registry writes nothing


def test_one_source_written_by_two_fields() -> None:
    fields = {"legal_name": {"source": "Name"},
              "legal_form": {"source": "Name", "normalizer": "legal_form_from_name"}}
    assert "already written by legal_name" in _problems(_spec(fields=fields))[0][1]


def test_default_must_be_a_canonical_value() -> None:
    fields = {"registry_status": {"source": "d", "default": "actve", "write": False}}
    [(key, message)] = _problems(_spec(fields=fields))
    assert key == "fields.registry_status.default" and message.startswith("'actve': ")


def test_default_country_is_alpha2() -> None:
    assert _problems(_spec(default_country="Czechia"))[0][0] == "default_country"


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("system: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match="bad.yaml"):
        load_spec(bad)
    with pytest.raises(SpecError, match="nosuch.yaml"):
        load_spec("nosuch")


def test_template_parsing() -> None:
    template = Template.parse("{a|b} {c}/{d}!")
    assert [(p.before, p.names) for p in template.parts] == [("", ("a", "b")), (" ", ("c",)),
                                                             ("/", ("d",))]
    assert template.after == "!"
    with pytest.raises(ValueError):
        Template.parse("no placeholder")


def test_a_spec_is_parsed_once_until_its_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("system: x\nrecord_id: id\nfields: {legal_name: {source: name}}\n", encoding="utf-8")
    first = load_spec(path)
    assert load_spec(path) is first  # every step of a run gets the one validated spec
    # the same size, and likely the same mtime tick: the content decides
    path.write_text("system: x\nrecord_id: ID\nfields: {legal_name: {source: name}}\n", encoding="utf-8")
    assert load_spec(path).record_id == "ID"
