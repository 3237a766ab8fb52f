from decimal import Decimal

import pytest

from mappings.customer import Customer
from mappings.engine import load_spec, map_record, to_system
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
