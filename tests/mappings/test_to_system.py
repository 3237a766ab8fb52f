from datetime import date
from decimal import Decimal

import pytest

from core.formats import FileFormat
from mappings.customer import Customer, RegistryStatus
from mappings.engine import load_spec, map_record, to_system
from mappings.errors import InvalidValue, MappingError
from mappings.writeback import canonical_value, represent
from tests.mappings.payloads import accounting_row, crm_account, erp_row

CASES = [("crm", crm_account()), ("accounting", accounting_row()), ("erp", erp_row())]


@pytest.mark.parametrize(("system", "payload"), CASES)
def test_round_trip_of_writable_fields(system: str, payload: dict) -> None:
    spec = load_spec(system)
    customer = map_record(spec, payload)
    written = {f: v for f, v in customer.present().items() if f in spec.writable_fields()}
    values = {f: getattr(customer, f) for f in written}
    back = map_record(spec, to_system(spec, values))
    assert {f: getattr(back, f) for f in values} == values


def test_erp_representation() -> None:
    spec = load_spec("erp")
    written = to_system(spec, {"credit_limit": Decimal("150000.50"), "payment_terms_days": 30,
                               "postal_code": "11000", "legal_name": "Dvořák a syn s.r.o."})
    assert written == {"UVEROVY_LIMIT": "150000,50", "SPLATNOST_DNI": "30", "PSC": "11000",
                       "NAZEV": "Dvořák a syn s.r.o."}


def test_accounting_and_crm_are_plain() -> None:
    acc = to_system(load_spec("accounting"), {"credit_limit": Decimal("150000.50"),
                                              "payment_terms_days": 30})
    assert acc == {"credit_limit": Decimal("150000.50"), "payment_terms_days": 30}
    crm = to_system(load_spec("crm"), {"legal_name": "Dvořák a syn s.r.o.", "vat_id": "CZ25596641"})
    assert crm == {"Name": "Dvořák a syn s.r.o.", "VatId": "CZ25596641"}


def test_derived_and_unheld_fields_are_not_written() -> None:
    crm = to_system(load_spec("crm"), {"legal_form": "a.s.", "iban": "CZ6508000000192000145399",
                                      "credit_limit": Decimal("1"), "registry_status": "active"})
    assert crm == {}


def test_none_is_passed_through() -> None:
    assert to_system(load_spec("erp"), {"email": None}) == {"EMAIL": None}


def test_unknown_canonical_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="credit_limt"):
        to_system(load_spec("erp"), {"credit_limt": Decimal("1")})


def test_writable_fields() -> None:
    assert load_spec("crm").writable_fields() == {
        "legal_name": "Name", "company_id": "CompanyId", "vat_id": "VatId", "street": "Street",
        "city": "City", "postal_code": "PostalCode", "country": "CountryCode", "email": "Email",
        "phone": "Phone",
    }


def test_full_customer_round_trip_through_erp() -> None:
    spec = load_spec("erp")
    customer = Customer(company_id="00012343", vat_id="CZ00012343", legal_name="Kovo a.s.",
                        street="Hlavní 1", city="Brno", postal_code="60200", country="CZ",
                        email="a@kovo.cz", phone="+420541123456", payment_terms_days=60,
                        credit_limit=Decimal("0.50"))
    values = {f: v for f, v in customer if v is not None}
    assert map_record(spec, to_system(spec, values)) == customer.model_copy(
        update={"legal_form": "a.s."})


# -- one representation (issue 11): whatever form the outbox holds, the spec spells it ------

@pytest.mark.parametrize(("held", "spelled"), [
    ("150000.50", "150000,50"),  # as JSON leaves a Decimal
    ("150000,50", "150000,50"), ("150 000,50", "150000,50"), (Decimal("150000.50"), "150000,50"),
    (150000.5, "150000,5"),  # a float has lost the trailing zero; the ERP reads both
    (150000, "150000"),
])
def test_an_amount_in_any_outbox_form_is_spelled_by_the_erp_spec(held: object,
                                                                 spelled: str) -> None:
    assert to_system(load_spec("erp"), {"credit_limit": held}) == {"UVEROVY_LIMIT": spelled}


@pytest.mark.parametrize("held", ["150000.50", "150000,50", 150000.5, Decimal("150000.50")])
def test_an_amount_reaches_sql_as_a_decimal_never_a_float(held: object) -> None:
    [(column, value)] = to_system(load_spec("accounting"), {"credit_limit": held}).items()
    assert column == "credit_limit" and type(value) is Decimal and value == Decimal("150000.50")


@pytest.mark.parametrize("held", [30, "30", "30,0", 30.0])
def test_days_are_an_int_for_sql_and_digits_for_the_file(held: object) -> None:
    assert to_system(load_spec("accounting"), {"payment_terms_days": held}) == {
        "payment_terms_days": 30}
    assert type(to_system(load_spec("accounting"), {"payment_terms_days": held})[
        "payment_terms_days"]) is int
    assert to_system(load_spec("erp"), {"payment_terms_days": held}) == {"SPLATNOST_DNI": "30"}


def test_a_number_held_as_text_by_json_is_text_again() -> None:
    assert to_system(load_spec("crm"), {"company_id": 27074358}) == {"CompanyId": "27074358"}


def test_an_unreadable_value_names_every_field_at_once() -> None:
    with pytest.raises(MappingError) as caught:
        to_system(load_spec("erp"), {"credit_limit": "a lot", "payment_terms_days": "30,5",
                                     "city": "Brno"})
    assert sorted((i.field, i.source) for i in caught.value.issues) == [
        ("credit_limit", "UVEROVY_LIMIT"), ("payment_terms_days", "SPLATNOST_DNI")]


def test_the_canonical_type_comes_from_the_customer_model() -> None:
    assert canonical_value("credit_limit", "1,5") == Decimal("1.5")
    assert canonical_value("registry_status", "insolvent") is RegistryStatus.INSOLVENT
    assert canonical_value("legal_name", None) is None
    with pytest.raises(InvalidValue, match="not one of active"):
        canonical_value("registry_status", "bankrupt")


def test_represent_by_the_file_format() -> None:
    czech = FileFormat(delimiter=";", decimal_comma=True, date_format="%d.%m.%Y")
    assert represent(Decimal("1.50"), czech) == "1,50"
    assert represent(Decimal("1.50"), FileFormat()) == "1.50"
    assert represent(date(2026, 1, 31), czech) == "31.01.2026"
    assert represent(date(2026, 1, 31), FileFormat()) == "2026-01-31"
    assert represent(RegistryStatus.ACTIVE, czech) == "active"
    assert represent(RegistryStatus.ACTIVE, None) == "active"
    assert represent(date(2026, 1, 31), None) == date(2026, 1, 31)  # SQL and SOAP: typed
    assert represent(7, czech) == "7" and represent(7, None) == 7
