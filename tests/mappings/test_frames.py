"""map_frame gives, record for record, what map_record_with_warnings gives."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from mappings.customer import Customer
from mappings.engine import load_spec, map_record_with_warnings
from mappings.errors import MappingError
from mappings.frames import FrameMapping, UnsupportedSpec, frame_supported, map_frame, present
from mappings.spec import MappingSpec, parse_spec
from sandbox.generator import Options, generate_chunks

ESTATE = {"crm": "crm_accounts", "accounting": "accounting_rows", "erp": "erp_partners"}
OPTIONS = Options(hard_negatives=0.1, without_ids=0.3, varied_names=True)

# Hand-made rows in every system's columns: bad IČO / VAT / phone / e-mail, blanks, odd spaces.
BAD = [
    {"id": "bad-ico", "ico": "25596642"},
    {"id": "bad-ico-text", "ico": "ABC"},
    {"id": "bad-vat", "vat": "CZ25596642"},
    {"id": "bad-vat-prefix", "vat": "XX123"},
    {"id": "bad-phone", "phone": "12"},
    {"id": "bad-email", "email": "nobody"},
    {"id": "bad-all", "ico": "1", "vat": "CZ1", "phone": "x", "email": "@", "zip": "1",
     "country": "Narnia"},
    {"id": "blank", "ico": "", "vat": "", "phone": "", "email": "", "name": "", "country": ""},
    {"id": "whitespace", "ico": " \t", "vat": "\u00a0", "phone": "\u2003", "name": " \x1c ",
     "country": "\n", "zip": "\u202f"},
    {"id": "no-country", "country": None, "phone": "602 123 456", "vat": "25596641"},
    {"id": "german", "country": "Německo", "phone": "030 1234567", "ico": "HRB 1234",
     "vat": "DE136695976", "zip": "10115"},
    {"id": "greek-vat", "country": "GR", "vat": "EL094259216", "phone": "+30 21 0123 4567"},
    {"id": "slovak", "country": "Slovenská republika", "ico": "35 757 442", "zip": "811 01"},
    {"id": "odd-spaces", "name": "  Dvořák\u00a0a  syn s. r. o. ", "street": "Vinohradská 12 / 4"},
    {"id": "state", "name": "ABC s.r.o. v likvidaci", "email": "MAILTO:Info@ABC.cz"},
    {"id": "numbers", "terms": "30,0", "limit": "150 000,5"},
    {"id": "bad-numbers", "terms": "30,5", "limit": "1.234,567"},
    {"id": "bad-iban", "iban": "CZ65 0800 0000 1920 0014 5398"},
    {"id": "nfd", "name": "Dvor\u030cák a.s.", "country": "c\u030ceská republika"},
]
COLUMNS = {  # the BAD keys -> each system's raw column
    "crm": {"id": "AccountId", "name": "Name", "ico": "CompanyId", "vat": "VatId", "street": "Street",
            "zip": "PostalCode", "country": "CountryCode", "email": "Email", "phone": "Phone"},
    "accounting": {"id": "customer_no", "name": "company_name", "ico": "ico", "vat": "dic",
                   "street": "street", "zip": "zip", "country": "country", "email": "email",
                   "phone": "phone", "iban": "iban", "terms": "payment_terms_days",
                   "limit": "credit_limit"},
    "erp": {"id": "PARTNER_ID", "name": "NAZEV", "ico": "ICO", "vat": "DIC", "street": "ULICE",
            "zip": "PSC", "country": "ZEME", "email": "EMAIL", "phone": "TELEFON",
            "terms": "SPLATNOST_DNI", "limit": "UVEROVY_LIMIT"},
}


@pytest.fixture(scope="module")
def estate_rows() -> dict[str, list[dict[str, str | None]]]:
    rows: dict[str, list[dict[str, str | None]]] = {system: [] for system in ESTATE}
    for estate in generate_chunks(1500, 500, seed=11, options=OPTIONS):
        for system, attribute in ESTATE.items():
            rows[system] += [{k: None if v is None else str(v) for k, v in r.items()}
                             for r in getattr(estate, attribute)]
    return rows


def _bad_rows(system: str, template: Mapping[str, str | None]) -> list[dict[str, str | None]]:
    columns = COLUMNS[system]
    return [dict(template) | {columns[k]: v for k, v in bad.items() if k in columns} for bad in BAD]


def assert_same_as_engine(spec: MappingSpec, rows: list[dict[str, Any]], result: FrameMapping,
                          id_column: str | None = None) -> None:
    """Every row: the same values, or the same quarantine reason, and the same warnings."""
    records = dict(result.presents())
    quarantined = dict(result.quarantined.iter_rows())
    warnings: dict[str, list[tuple[str, str]]] = {}
    for record_id, field, reason in result.warnings.iter_rows():
        warnings.setdefault(record_id, []).append((field, reason))
    assert len(records) + len(quarantined) == len(rows)
    for row in rows:
        record_id = row[id_column or spec.record_id]
        try:
            expected = map_record_with_warnings(spec, row)
        except MappingError as error:
            assert (record_id, quarantined.get(record_id)) == (record_id, str(error))
            assert record_id not in records and record_id not in warnings
            continue
        assert (record_id, records.get(record_id)) == (record_id, expected.customer.present())
        assert warnings.get(record_id, []) == [(i.field, str(i)) for i in expected.warnings]
    assert result.records.columns == ["record_id", *Customer.model_fields]
    assert all(dtype == pl.String for dtype in result.records.dtypes)


@pytest.mark.parametrize("system", list(ESTATE))
def test_generated_and_bad_rows_map_as_the_engine_maps_them(
        system: str, estate_rows: dict[str, list[dict[str, str | None]]]) -> None:
    spec = load_spec(system)
    rows = estate_rows[system] + _bad_rows(system, estate_rows[system][0])
    result = map_frame(spec, pl.DataFrame(rows, schema={c: pl.String for c in rows[0]}))
    assert_same_as_engine(spec, rows, result)
    # the bad rows did exercise quarantine and warnings, not only the happy path
    assert {"bad-ico", "bad-vat", "bad-all"} <= set(result.quarantined["record_id"])
    assert "bad-phone" in set(result.warnings["record_id"])
    assert "blank" in set(result.records["record_id"])


def test_a_missing_column_is_an_absent_value() -> None:
    spec = load_spec("crm")
    rows = [{"AccountId": "A1", "Name": "Firma s.r.o.", "CompanyId": "25596641"}]
    assert_same_as_engine(spec, rows, map_frame(spec, pl.DataFrame(rows)))


TEMPLATED = {
    "system": "flat", "record_id": "id", "read_only": True, "default_country": "CZ",
    "fields": {
        "street": {"source": ["ulice", "cast", "cp", "co", "pismeno"], "normalizer": "street",
                   "template": "{ulice|cast} {cp}/{co}{pismeno}"},
        "city": {"source": ["obec", "cast"], "template": "<{obec}, {cast}>", "normalizer": "text"},
        "country": {"source": "stat", "normalizer": "country", "default": "SK"},
        "phone": {"source": "tel", "normalizer": "phone"},
        "registry_status": {"source": "zanik", "normalizer": "dissolved_if_dated", "default": "active"},
    },
}


@pytest.mark.parametrize(("default_country", "country_default"), [("CZ", "SK"), (None, None), ("DE", None)])
def test_templates_defaults_and_the_country_default(default_country: str | None,
                                                    country_default: str | None) -> None:
    document = TEMPLATED | {"default_country": default_country}
    document["fields"] = TEMPLATED["fields"] | {"country": {"source": "stat", "normalizer": "country",
                                                            "default": country_default}}
    spec = parse_spec(document)
    parts = [None, "", " ", "Na Příkopě", "3", "Žižkov"]
    rows = [{"id": f"r{i}", "ulice": u, "cast": c, "cp": p, "co": o, "pismeno": "a" if i % 3 else None,
             "obec": u, "stat": ("CZ", None, "", "DE", "xx")[i % 5], "tel": ("602123456", "0301234567")[i % 2],
             "zanik": ("2020-01-01", None)[i % 2]}
            for i, (u, c, p, o) in enumerate((u, c, p, o) for u in parts for c in parts[:3]
                                              for p in parts[3:5] for o in parts[::2])]
    result = map_frame(spec, pl.DataFrame(rows, schema={c: pl.String for c in rows[0]}))
    assert_same_as_engine(spec, rows, result)
    assert result.records["street"].null_count() < result.records.height  # templates rendered


def test_the_model_coerces_and_rejects_as_it_does_for_map_record() -> None:
    coerced = parse_spec({"system": "x", "record_id": "id", "fields": {
        "payment_terms_days": {"source": "terms", "normalizer": "text"},
        "credit_limit": {"source": "limit", "normalizer": "decimal"},
        "registry_status": {"source": "status", "normalizer": "text"}}})
    rows = [{"id": "a", "terms": " 30 ", "limit": "1,0", "status": "active"},
            {"id": "b", "terms": "30", "limit": "1.00", "status": "insolvent"}]
    result = map_frame(coerced, pl.DataFrame(rows))
    assert_same_as_engine(coerced, rows, result)
    assert present(result.records.row(0, named=True)) == {
        "payment_terms_days": 30, "credit_limit": "1.0", "registry_status": "active"}
    rejected = rows + [{"id": "c", "terms": "thirty", "limit": "1", "status": "active"}]
    with pytest.raises(ValidationError) as frame_error:
        map_frame(coerced, pl.DataFrame(rejected))
    with pytest.raises(ValidationError) as engine_error:
        map_record_with_warnings(coerced, rejected[2])
    assert str(frame_error.value) == str(engine_error.value)


def test_blank_is_what_python_strip_calls_blank_for_every_code_point() -> None:
    spec = parse_spec({"system": "x", "record_id": "id", "fields": {
        "legal_name": {"source": "name", "normalizer": "text", "default": "blank"}}})
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    names = [f"{c}{c}" for c in chars]
    result = map_frame(spec, pl.DataFrame({"id": [str(i) for i in range(len(names))], "name": names}))
    blank = {record_id for record_id, name in result.records.select("record_id", "legal_name").iter_rows()
             if name == "blank"}
    assert blank == {str(i) for i, name in enumerate(names) if not name.strip()}
    assert len(blank) > 20


def test_a_string_reaches_the_model_unchanged() -> None:
    """Why map_frame skips Customer validation for str values in str fields."""
    for text in ("", " a ", "\u00a0x\n", "ABC" * 1000, "Dvor\u030cák"):
        for name in ("legal_name", "email", "country"):
            assert getattr(Customer.model_validate({name: text}), name) == text


def test_workers_give_the_same_result() -> None:
    spec = load_spec("crm")
    n = 6_000  # above the threshold from which distinct values go to the workers
    raw = pl.DataFrame({"AccountId": [f"A{i}" for i in range(n)],
                        "Name": [f"Firma {i} s.r.o." if i % 7 else " " for i in range(n)],
                        "Phone": [f"602 {i:06d}" if i % 5 else "12" for i in range(n)]})
    serial, parallel = map_frame(spec, raw), map_frame(spec, raw, workers=2)
    assert serial.records.equals(parallel.records)
    assert serial.quarantined.equals(parallel.quarantined)
    assert serial.warnings.equals(parallel.warnings)
    assert serial.warnings.height > 0 and serial.records["legal_name"].null_count() > 0
    assert_same_as_engine(spec, raw.to_dicts()[:500], map_frame(spec, raw.head(500)))


def test_nested_sources_are_left_to_map_record() -> None:
    ares = load_spec("ares")
    assert not frame_supported(ares)
    with pytest.raises(UnsupportedSpec):
        map_frame(ares, pl.DataFrame({"ico": ["25596641"]}))
    assert all(frame_supported(load_spec(s)) for s in ESTATE)


def test_a_number_column_is_refused_rather_than_guessed() -> None:
    with pytest.raises(TypeError):
        map_frame(load_spec("accounting"), pl.DataFrame({"customer_no": ["1"], "payment_terms_days": [14]}))


def test_a_system_column_may_carry_any_name() -> None:
    spec = parse_spec({"system": "x", "record_id": "no", "fields": {
        "legal_name": {"source": "record_id", "normalizer": "text"},
        "city": {"source": "row", "normalizer": "text"}}})
    rows = [{"no": "1", "record_id": "Firma a.s.", "row": " Brno "}, {"no": "2", "record_id": None, "row": "x"}]
    assert_same_as_engine(spec, rows, map_frame(spec, pl.DataFrame(rows)))
