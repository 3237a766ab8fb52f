"""A record schema's fields read column-wise: each value normalized, a bad one rejecting its row
or left empty, as the field says."""

from __future__ import annotations

import polars as pl

from mappings.record_fields import FieldRule, read_fields


def test_values_are_normalized_and_every_reason_of_a_row_is_given() -> None:
    raw = pl.DataFrame({"id": ["1", "2", "3", "4"],
                        "Name": ["  Ann   Lee ", "Bob", "  ", "Cy"],
                        "mail": ["ANN@X.CZ", "not mail", "c@y.cz", "also bad"],
                        "web": ["https://www.firma.cz/kontakt", None, "nope nope", "x.cz"]})
    rules = {"name": FieldRule("Name", "text"), "email": FieldRule("mail", "email"),
             "website": FieldRule("web", "website", reject=False), "phone": FieldRule("tel", "phone")}
    read = read_fields(raw, rules, country="CZ")
    assert read.records.columns == ["name", "email", "website", "phone"]
    assert read.records.rows() == [("Ann Lee", "ann@x.cz", "firma.cz", None), (None, "c@y.cz", None, None)]
    assert read.rejected["row"].to_list() == [1, 3]
    assert all(reason.startswith("email ") and "not an e-mail address" in reason
               for reason in read.rejected["reason"])


def test_a_value_is_normalized_once_however_often_it_occurs() -> None:
    calls: list[str] = []
    from mappings import normalizers

    normalizers.NORMALIZERS["_counted"] = lambda value, country: calls.append(value) or value.upper()
    try:
        raw = pl.DataFrame({"c": ["a", "b", "a", "a", None, "b"]})
        read = read_fields(raw, {"c": FieldRule("c", "_counted")})
    finally:
        del normalizers.NORMALIZERS["_counted"]
    assert sorted(calls) == ["a", "b"]
    assert read.records["c"].to_list() == ["A", "B", "A", "A", None, "B"]


def test_a_field_of_several_columns_joins_the_values_present() -> None:
    raw = pl.DataFrame({"given": ["ann", None, " ", None], "family": ["lee", "bo", "cy", None]})
    read = read_fields(raw, {"names": FieldRule(("given", "family", "absent"), "text")})
    assert read.records["names"].to_list() == ["ann lee", "bo", "cy", None]
