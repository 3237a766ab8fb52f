from decimal import Decimal

import pytest

from mappings.customer import RegistryStatus
from mappings.engine import load_spec, map_record, map_record_with_warnings
from mappings.errors import MappingError
from tests.mappings.payloads import accounting_row, crm_account, erp_row

SAME_COMPANY = ("company_id", "vat_id", "legal_form", "street", "city", "postal_code",
                "country", "email", "phone")


def test_crm_account() -> None:
    customer = map_record(load_spec("crm"), crm_account())
    assert customer.present() == {
        "company_id": "25596641",
        "vat_id": "CZ25596641",
        "legal_name": "Dvořák a syn spol. s r. o.",  # its own spelling is kept
        "legal_form": "s.r.o.",
        "street": "Vinohradská 12/4",
        "city": "Praha",
        "postal_code": "12000",
        "country": "CZ",
        "email": "info@dvorak-syn.cz",
        "phone": "+420602123456",
    }


def test_accounting_row() -> None:
    customer = map_record(load_spec("accounting"), accounting_row())
    assert customer.vat_id == "CZ25596641"  # prefix from the record's country
    assert customer.iban == "CZ6508000000192000145399"
    assert customer.payment_terms_days == 14
    assert customer.credit_limit == Decimal("150000.50")


def test_erp_row() -> None:
    customer = map_record(load_spec("erp"), erp_row())
    assert customer.country == "CZ"
    assert customer.postal_code == "12000"
    assert customer.phone == "+420602123456"
    assert customer.payment_terms_days == 30
    assert customer.credit_limit == Decimal("150000.50")
    assert customer.legal_form == "s.r.o."


def test_the_same_company_typed_differently_compares_equal() -> None:
    crm = map_record(load_spec("crm"), crm_account())
    acc = map_record(load_spec("accounting"), accounting_row())
    erp = map_record(load_spec("erp"), erp_row())
    for field in SAME_COMPANY:
        assert getattr(crm, field) == getattr(acc, field) == getattr(erp, field), field
    # …while the spelling of the name stays a real difference for reconciliation to correct
    assert len({crm.legal_name, acc.legal_name, erp.legal_name}) == 3


def test_missing_diacritics_stay_a_difference() -> None:
    plain = map_record(load_spec("crm"), crm_account(Name="Dvorak a syn s.r.o."))
    assert plain.legal_name != map_record(load_spec("accounting"), accounting_row()).legal_name


def test_empty_strings_are_none() -> None:
    customer = map_record(load_spec("erp"), erp_row(ICO="", DIC="  ", EMAIL="", UVEROVY_LIMIT=""))
    assert customer.company_id is None
    assert customer.vat_id is None
    assert customer.email is None
    assert customer.credit_limit is None


def test_missing_fields_are_none() -> None:
    customer = map_record(load_spec("crm"), {"AccountId": "CRM-1", "Name": "Horák k.s."})
    assert customer.present() == {"legal_name": "Horák k.s.", "legal_form": "k.s."}


def test_country_is_normalized_first_and_read_into_phone_and_postal_code() -> None:
    record = crm_account(CountryCode="Slovensko", Phone="0905 123 456", PostalCode="811 01",
                         CompanyId="35757442", VatId="SK2022749619")
    customer = map_record(load_spec("crm"), record)
    assert customer.country == "SK"
    assert (customer.phone, customer.postal_code) == ("+421905123456", "81101")


def test_default_country_reads_national_numbers_but_is_not_the_records_country() -> None:
    customer = map_record(load_spec("crm"), crm_account(CountryCode=""))
    assert customer.phone == "+420602123456"
    assert customer.country is None


def test_foreign_record() -> None:
    record = crm_account(Name="Müller Maschinenbau GmbH", CompanyId="HRB 12345",
                         VatId="DE136695976", PostalCode="10115", CountryCode="DEU",
                         Phone="030 1234567", Street="Unter den Linden 5", City="Berlin")
    customer = map_record(load_spec("crm"), record)
    assert customer.legal_form == "GmbH"
    assert customer.company_id == "HRB12345"
    assert customer.phone == "+49301234567"


def test_every_reason_is_reported_at_once() -> None:
    record = erp_row(ICO="12345678", DIC="CZ1234", PSC="1100", UVEROVY_LIMIT="sto tisíc")
    with pytest.raises(MappingError) as caught:
        map_record(load_spec("erp"), record)
    assert caught.value.reasons == [
        "ICO '12345678': invalid checksum",
        "VAT ID 'CZ1234': invalid length",
        "postal code '1100': not 5 digits",
        "number 'sto tisíc': not a number",
    ]
    assert [issue.field for issue in caught.value.issues] == [
        "company_id", "vat_id", "postal_code", "credit_limit"]
    assert caught.value.issues[0].source == "ICO"
    assert "ICO '12345678': invalid checksum" in str(caught.value)


def test_bad_country_quarantines() -> None:
    with pytest.raises(MappingError, match="country 'Absurdistán': unknown country"):
        map_record(load_spec("crm"), crm_account(CountryCode="Absurdistán"))


def test_drop_sets_none_and_warns() -> None:
    result = map_record_with_warnings(load_spec("crm"), crm_account(Email="info@", Phone="12"))
    assert result.customer.email is None
    assert result.customer.phone is None
    assert result.customer.company_id == "25596641"
    assert [str(w) for w in result.warnings] == [
        "e-mail 'info@': not an e-mail address",
        "phone '12': not a valid number",
    ]


def test_clean_record_has_no_warnings() -> None:
    assert map_record_with_warnings(load_spec("crm"), crm_account()).warnings == ()


def test_registry_status_is_not_in_system_records() -> None:
    assert map_record(load_spec("erp"), erp_row()).registry_status is None
    assert RegistryStatus.ACTIVE == "active"


@pytest.mark.parametrize(
    ("sidlo", "expected"),
    [
        ({"nazevUlice": "Hlavní", "cisloDomovni": 12, "cisloOrientacni": 4}, "Hlavní 12/4"),
        ({"nazevUlice": "Hlavní", "cisloDomovni": 12}, "Hlavní 12"),
        ({"nazevCastiObce": "Lhota", "cisloDomovni": 7}, "Lhota 7"),
        ({"nazevUlice": "Hlavní", "nazevCastiObce": "Lhota", "cisloDomovni": 7}, "Hlavní 7"),
        ({"nazevUlice": "  "}, None),
        ({}, None),
    ],
)
def test_composed_street_uses_only_the_parts_present(sidlo: dict, expected: str | None) -> None:
    assert map_record(load_spec("ares"), {"sidlo": sidlo}).street == expected


def test_dotted_path_through_a_non_object_is_missing() -> None:
    assert map_record(load_spec("ares"), {"sidlo": "Praha"}).city is None
