"""A steward's typed value is read by its field's normalizer, as source data is, or refused in one line."""

from __future__ import annotations

from datetime import date

import pytest

from mappings.normalizers.dates import parse_date
from mappings.steward_values import RefusedValue, steward_value


@pytest.mark.parametrize(("field", "typed", "reason"), [
    ("email", "not-an-email", "email: 'not-an-email' refused: not an e-mail address"),
    ("company_id", "12345678", "company_id: '12345678' refused: invalid checksum (ICO)"),
    ("phone", "call me", "phone: 'call me' refused: not a phone number"),
    ("country", "Narnia", "country: 'Narnia' refused: unknown country"),
    ("vat_id", "CZ12345678", "vat_id: 'CZ12345678' refused: invalid checksum (VAT ID)"),
    ("credit_limit", "lots", "credit_limit: 'lots' refused: not a number"),
    ("credit_limit", "10,505", "credit_limit: '10,505' refused: more than 2 decimal places (amount)"),
    ("payment_terms_days", "thirty", "payment_terms_days: 'thirty' refused: not a number"),
    ("legal_form", "ltd-ish", "legal_form: 'ltd-ish' refused: unknown legal form"),
    ("legal_name", "   ", "legal_name: '   ' refused: empty; type a value"),
    ("shoe_size", "42", "shoe_size: '42' refused: not a field of a customer"),
])
def test_a_bad_value_is_refused_with_one_line_naming_field_and_reason(field: str, typed: str, reason: str) -> None:
    with pytest.raises(RefusedValue) as refused:
        steward_value(field, typed, "CZ")
    assert str(refused.value).startswith(reason) and "\n" not in str(refused.value)


@pytest.mark.parametrize(("field", "typed", "stored"), [
    ("email", " Nakup@Firma.CZ ", "nakup@firma.cz"),
    ("company_id", "255 96 641", "25596641"),
    ("company_id", "6947", "00006947"),  # a system that stores numbers dropped the zeros
    ("phone", "602 123 456", "+420602123456"),
    ("phone", "00420 602 123 456", "+420602123456"),
    ("country", "Česko", "CZ"),
    ("country", "Německo", "DE"),
    ("vat_id", "25596641", "CZ25596641"),  # the company's country supplies the prefix
    ("credit_limit", "1 000,50", "1000.50"),  # Czech money
    ("credit_limit", "100000.50", "100000.50"),
    ("credit_limit", "150 000", "150000.00"),
    ("payment_terms_days", "45", 45),
    ("postal_code", "110 00", "11000"),
    ("legal_form", "spol. s r. o.", "s.r.o."),
    ("iban", "CZ65 0800 0000 1920 0014 5399", "CZ6508000000192000145399"),
    ("legal_name", "  Kovo   Praha s.r.o. ", "Kovo Praha s.r.o."),
    ("registry_status", "Insolvent", "insolvent"),
    ("city", "Prague", "Praha"),  # exonyms fold as in the systems' data
    ("street_name", "Školní", "Školní"),
    ("house_number", "č.p. 604", "604"),
    ("website", "https://www.firma.co.uk/kontakt", "firma.co.uk"),
    ("company_key", "255 96 641", "CZ:25596641"),
])
def test_a_good_value_is_stored_as_source_data_is(field: str, typed: str, stored: object) -> None:
    assert steward_value(field, typed, "CZ") == stored


def test_czech_and_iso_dates() -> None:
    assert parse_date("7. 12. 2026") == parse_date("2026-12-07") == parse_date("07.12.2026") == date(2026, 12, 7)
    for bad in ("31. 2. 2026", "yesterday", "12"):
        with pytest.raises(ValueError, match="not a date"):
            parse_date(bad)
