import pytest

from mappings.customer import RegistryStatus
from mappings.engine import load_spec, map_record, to_system
from tests.mappings.payloads import ares_sample


def test_asseco_sample() -> None:
    customer = map_record(load_spec("ares"), ares_sample("27074358"))
    assert customer.present() == {
        "company_id": "27074358",
        "vat_id": "CZ27074358",
        "legal_name": "Asseco Central Europe, a.s.",
        "legal_form": "a.s.",
        "street": "Budějovická 778/3a",
        "city": "Praha",
        "postal_code": "14000",
        "country": "CZ",
        "registry_status": "active",
    }


@pytest.mark.parametrize(
    ("ico", "street", "legal_form"),
    [
        ("25063677", "Daminěves 35", "s.r.o."),  # a village part without streets
        ("25834151", "Družstevní 338/16", "s.r.o."),
        ("68407700", "Jugoslávských partyzánů 1580/3", None),  # a university: no suffix form
    ],
)
def test_samples(ico: str, street: str, legal_form: str | None) -> None:
    customer = map_record(load_spec("ares"), ares_sample(ico))
    assert customer.company_id == ico
    assert customer.street == street
    assert customer.legal_form == legal_form
    assert customer.registry_status is RegistryStatus.ACTIVE


def test_datum_zaniku_means_dissolved() -> None:
    payload = ares_sample("25063677") | {"datumZaniku": "2024-06-30"}
    assert map_record(load_spec("ares"), payload).registry_status is RegistryStatus.DISSOLVED


def test_ares_legal_form_agrees_with_the_name() -> None:
    crm = load_spec("crm")
    for ico in ("27074358", "25063677", "25834151"):
        ares = map_record(load_spec("ares"), ares_sample(ico))
        assert map_record(crm, {"Name": ares.legal_name}).legal_form == ares.legal_form


def test_ares_is_read_only() -> None:
    spec = load_spec("ares")
    assert spec.record_id == "ico"
    assert spec.writable_fields() == {}
    with pytest.raises(ValueError, match="read-only"):
        to_system(spec, {"legal_name": "X"})
