"""A field's fallback source: the IČO from the DIČ when the IČO field is empty."""

from __future__ import annotations

import polars as pl
import pytest

from mappings.engine import map_record, map_record_with_warnings
from mappings.errors import MappingError, SpecError
from mappings.frames import map_frame
from mappings.spec import parse_spec
from tests.mappings.test_frames import assert_same_as_engine

SPEC = {"system": "x", "record_id": "id", "default_country": "CZ", "fields": {
    "company_id": {"source": "ico", "normalizer": "company_id", "write": False,
                   "fallback": {"source": "dic", "normalizer": "ico_from_dic"}},
    "vat_id": {"source": "dic", "normalizer": "vat_id", "on_error": "drop"},
    "country": {"source": "land", "normalizer": "country"}}}
ROWS = [
    {"id": "only-ico", "ico": "25596641", "dic": None, "land": None},
    {"id": "only-dic", "ico": None, "dic": "CZ25596641", "land": None},
    {"id": "blank-ico", "ico": " ", "dic": "CZ 27074358", "land": "ČR"},
    {"id": "both", "ico": "27074358", "dic": "CZ25596641", "land": None},  # the IČO field wins
    {"id": "person", "ico": None, "dic": "CZ7103192745", "land": None},  # no IČO in it
    {"id": "slovak", "ico": None, "dic": "SK2022749619", "land": "SK"},
    {"id": "bad-ico", "ico": "25596642", "dic": "CZ25596641", "land": None},
    {"id": "nothing", "ico": None, "dic": None, "land": "DE"},
]


def test_the_ico_comes_from_the_dic_when_the_ico_field_is_empty() -> None:
    spec = parse_spec(SPEC)
    mapped = {row["id"]: map_record(spec, row).company_id for row in ROWS if row["id"] != "bad-ico"}
    assert mapped == {"only-ico": "25596641", "only-dic": "25596641", "blank-ico": "27074358",
                      "both": "27074358", "person": None, "slovak": None, "nothing": None}
    with pytest.raises(MappingError, match="25596642"):
        map_record(spec, ROWS[6])  # a bad IČO is not replaced by the DIČ's


def test_both_engines_read_the_fallback_alike() -> None:
    spec = parse_spec(SPEC)
    assert_same_as_engine(spec, ROWS, map_frame(spec, pl.DataFrame(ROWS, schema=dict.fromkeys(ROWS[0], pl.String))))


def test_a_failing_fallback_fails_the_field() -> None:
    spec = parse_spec(SPEC | {"fields": SPEC["fields"] | {"legal_name": {
        "source": "name", "normalizer": "text", "on_error": "drop", "write": False,
        "fallback": {"source": "zip", "normalizer": "postal_code"}}}})
    rows = [{"id": "a", "name": None, "zip": "1", "ico": None, "dic": None, "land": None},
            {"id": "b", "name": None, "zip": "110 00", "ico": None, "dic": None, "land": None}]
    result = map_record_with_warnings(spec, rows[0])
    assert result.customer.legal_name is None
    assert [(w.field, w.source, w.value) for w in result.warnings] == [("legal_name", "zip", "1")]
    assert map_record(spec, rows[1]).legal_name == "11000"
    assert_same_as_engine(spec, rows, map_frame(spec, pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))))


def test_a_fallback_is_checked_when_the_spec_loads() -> None:
    bad = SPEC | {"fields": SPEC["fields"] | {
        "country": {"source": "land", "normalizer": "country",
                    "fallback": {"source": "dic", "normalizer": "country"}},
        "vat_id": {"source": "dic", "normalizer": "vat_id",
                   "fallback": {"source": "x", "normalizer": "no_such"}}}}
    with pytest.raises(SpecError) as error:
        parse_spec(bad)
    assert "fields.country.fallback" in str(error.value) and "no_such" in str(error.value)


def test_a_field_written_back_takes_no_fallback() -> None:
    """Its fallback's value would hide the empty field from the correction that fills it."""
    written = SPEC | {"fields": SPEC["fields"] | {"company_id": SPEC["fields"]["company_id"] | {"write": True}}}
    with pytest.raises(SpecError, match="fields.company_id.fallback: a field written back takes no fallback"):
        parse_spec(written)
    assert parse_spec(written | {"read_only": True}).fields["company_id"].fallback is not None


def test_the_hub_batches_hand_the_fallback_column_to_the_frame_engine() -> None:
    """The map step and `custhub match` build the raw frame from spec.source_columns()."""
    from types import SimpleNamespace

    from hub.pipeline.map import _map_batch

    only_fallback = {name: rule for name, rule in SPEC["fields"].items() if name != "vat_id"}
    spec = parse_spec(SPEC | {"fields": only_fallback})  # "dic" is read by the fallback alone
    assert spec.source_columns() == ["dic", "ico", "land"]
    got = _map_batch(spec, [SimpleNamespace(payload=row) for row in ROWS])  # type: ignore[arg-type]
    assert got[1] == {"company_id": "25596641"}
