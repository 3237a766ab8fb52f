"""Comparison keys: a difference in spelling only is none; Python and polars give one answer."""

from __future__ import annotations

import polars as pl
import pytest

from reconciliation.comparison import KEYS, column_key, same, value_key
from reconciliation.diff import differences
from reconciliation.records import Golden, MemberRecord

SAME = [("city", "PRAHA", "CZ", "Praha", "CZ"), ("city", " Praha  ", None, "praha", "CZ"),
        ("legal_name", "FIRMA  1 S.R.O.", "CZ", "Firma 1 s.r.o.", "CZ"),
        ("street", "HAUPTSTRASSE 1", "DE", "Hauptstraße 1", "DE"),
        ("postal_code", "L-1855", "LU", "1855", "LU"), ("postal_code", "D-80331", "DE", "80331", "DE"),
        ("postal_code", "DE-80331", "DE", "80331", "DE"), ("postal_code", "602 00", "CZ", "60200", "CZ"),
        ("postal_code", "00-950", "PL", "00950", "PL"), ("postal_code", "sw1a 1aa", "GB", "SW1A1AA", "GB"),
        ("credit_limit", "150000.50", None, "150000.5", None), ("credit_limit", "100.00", None, "100", None)]
DIFFERENT = [("city", "Plzeň", "CZ", "Plzen", "CZ"),  # diacritics count unless configured
             ("city", "Praha", "CZ", "Brno", "CZ"),
             ("postal_code", "L-1855", "DE", "1855", "DE"),  # L is Luxembourg's prefix, not Germany's
             ("postal_code", "VLT 1117", "MT", "1117", "MT"),  # Malta's letters are the code itself
             ("postal_code", "80331", "DE", "80333", "DE"),
             ("credit_limit", "100", None, "1000", None), ("vat_id", "CZ12345678", None, "cz12345678", None)]


@pytest.mark.parametrize(("field", "a", "a_country", "b", "b_country"), SAME)
def test_spellings_of_one_value_are_the_same(field: str, a: str, a_country: str, b: str, b_country: str) -> None:
    assert same(field, a, a_country, b, b_country)


@pytest.mark.parametrize(("field", "a", "a_country", "b", "b_country"), DIFFERENT)
def test_other_values_differ(field: str, a: str, a_country: str, b: str, b_country: str) -> None:
    assert not same(field, a, a_country, b, b_country)


def test_diacritics_do_not_count_where_a_field_is_configured_to_fold() -> None:
    assert same("city", "Plzeň", "CZ", "PLZEN", "CZ", compare={"city": "fold"})


@pytest.mark.parametrize("key", sorted(KEYS))
def test_the_column_wise_key_is_the_python_key(key: str) -> None:
    values = [v for case in SAME + DIFFERENT for v in ((case[1], case[2]), (case[3], case[4]))]
    values += [(None, "CZ"), ("", None), ("Ústí  nad\u00a0Labem", "CZ"), ("ǅ Straße", None), ("L-", "LU")]
    frame = pl.DataFrame(values, schema={"v": pl.String, "c": pl.String}, orient="row")
    compare = {"f": key}
    got = frame.select(column_key("f", pl.col("v"), pl.col("c"), compare)).to_series().to_list()
    assert got == [value_key("f", v, c, compare) for v, c in values]


def test_the_diff_corrects_no_spelling_and_reads_a_postal_code_in_its_record_s_country() -> None:
    golden = Golden({"city": "Luxembourg", "postal_code": "L-1855", "country": "LU"},
                    {f: {"source": "crm", "record_id": "C1"} for f in ("city", "postal_code", "country")})
    members = [MemberRecord("crm", "C1", golden.values),
               MemberRecord("erp", "E1", {"city": "LUXEMBOURG", "postal_code": "1855", "country": "LU"}),
               MemberRecord("accounting", "A1", {"city": "Luxembourg", "postal_code": "1855"}),  # no country held
               MemberRecord("ares", "1", {"city": "Luxemburg", "postal_code": "1856", "country": "LU"})]
    fields = {"city", "postal_code", "country"}
    carries = {s: fields for s in ("crm", "erp", "ares")} | {"accounting": {"city", "postal_code"}}
    found = differences(golden, members, {s: fields for s in ("erp", "accounting", "ares")}, carries)
    assert [(d.system, d.field) for d in found] == [("ares", "city"), ("ares", "postal_code")]
