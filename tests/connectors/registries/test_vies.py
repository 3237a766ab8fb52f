"""ViesConnector against the sandbox VIES (real WSDL) over loopback, with real zeep."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.errors import BadRecordError, SecurityError, TransientError
from connectors.registries.vies import Settings, ViesConnector, normalise

pytestmark = pytest.mark.integration


@pytest.fixture
def vies(vies_conn) -> ViesConnector:
    return ViesConnector(Settings(retry_attempts=3), vies_conn)


def test_valid_number_with_name_and_address(vies):
    check = vies.check_vat("CZ", "CZ 255 966 41")
    assert (check.status, check.country_code, check.vat_number) == ("valid", "CZ", "25596641")
    assert check.name == "Dvořák a syn s.r.o."
    assert check.address.startswith("Budějovická 778/3a")
    assert isinstance(check.request_date, date) and check.fault is None
    assert check.request_identifier is None
    assert check.raw["valid"] is True and isinstance(check.raw["requestDate"], str)


def test_valid_number_whose_state_hides_name_and_address(vies):
    check = vies.check_vat("de", "312635404")
    assert check.status == "valid"
    assert (check.name, check.address) == (None, None)  # "---" means not disclosed
    assert check.raw["name"] == "---"


def test_invalid_number(vies):
    check = vies.check_vat("CZ", "12345679")
    assert check.status == "invalid"
    assert check.vat_number == "12345679"  # VIES echoes an empty number; we keep what we asked


def test_unknown_number_is_invalid(vies):
    assert vies.check_vat("SK", "2020273893").status == "invalid"


def test_member_state_unavailable_gives_unknown_after_retries(vies, vies_service):
    check = vies.check_vat("FR", "40303265045")
    assert (check.status, check.fault) == ("unknown", "MS_UNAVAILABLE")
    assert vies_service.checked.count("FR40303265045") == 3  # bounded retries, then unknown


def test_transient_fault_recovers_on_retry(vies, vies_service):
    vies_service.fail_next("fault:GLOBAL_MAX_CONCURRENT_REQ")
    assert vies.check_vat("CZ", "25596641").status == "valid"


def test_invalid_input_is_a_bad_record(vies):
    with pytest.raises(BadRecordError) as err:
        vies.check_vat("XX", "12345678")  # VIES knows no XX; it answers INVALID_INPUT
    assert err.value.detail == "INVALID_INPUT"


def test_malformed_number_is_refused_before_calling(vies, vies_service):
    with pytest.raises(BadRecordError):
        vies.check_vat("CZ", "25596641-ABC-123456")
    assert vies_service.checked == []


def test_response_with_doctype_is_a_security_error(vies, vies_service):
    vies_service.fail_next("doctype")
    with pytest.raises(SecurityError):
        vies.check_vat("CZ", "25596641")


def test_vies_down_is_transient_not_unknown(vies, vies_service):
    vies_service.fail_next("http503", "http503", "http503")
    with pytest.raises(TransientError):
        vies.check_vat("CZ", "25596641")


def test_test_connection(vies):
    ok, message = vies.test_connection()
    assert ok and "127.0.0.1" in message


@pytest.mark.parametrize(("country", "number", "expected"), [
    ("cz", " CZ 255 966 41 ", ("CZ", "25596641")),
    ("GR", "EL094259216", ("EL", "094259216")),
    ("GR", "GR094259216", ("EL", "094259216")),
    ("DE", "312.635.404", ("DE", "312635404")),
    ("NL", "nl123456789b01", ("NL", "123456789B01")),
])
def test_normalise(country, number, expected):
    assert normalise(country, number) == expected
