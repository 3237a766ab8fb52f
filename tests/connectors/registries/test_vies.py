"""ViesConnector against the sandbox VIES (real WSDL) over loopback, with real zeep."""

from __future__ import annotations

import dataclasses
import time
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.errors import (
    BadRecordError,
    ConnectorConfigError,
    RemoteRefusedError,
    SecurityError,
    TransientError,
)
from connectors.registries.vies import Settings, ViesConnector, normalise
from connectors.soap import ContractError
from sandbox.soap_server import Response
from sandbox.vies_service import HTML_ERROR_PAGE, ViesService
from tests.fixtures.soap import FAST_RETRY, loopback_conn

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).parent / "samples"
OVERLOAD_CODES = ("500", "501", "600", "601")  # *_MAX_CONCURRENT_REQ* in the EC test numbering


@pytest.fixture
def vies(vies_conn) -> ViesConnector:
    return ViesConnector(Settings(retry_attempts=3, **FAST_RETRY), vies_conn)


def test_valid_number_with_name_and_address(vies):
    check = vies.check_vat("CZ", "CZ 255 966 41")
    assert (check.status, check.country_code, check.vat_number) == ("valid", "CZ", "25596641")
    assert check.name == "Dvořák a syn s.r.o."
    assert check.address.startswith("Budějovická 778/3a")
    assert isinstance(check.request_date, date) and check.fault is None
    assert check.request_identifier is None and check.operation == "checkVat"
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


def test_member_state_unavailable_gives_unknown_after_retries(vies, vies_service):
    check = vies.check_vat("FR", "40303265045")
    assert (check.status, check.fault) == ("unknown", "MS_UNAVAILABLE")
    assert vies_service.checked.count("FR40303265045") == 3  # bounded retries, then unknown


def test_transient_fault_recovers_on_retry(vies, vies_service):
    vies_service.fail_next("fault:GLOBAL_MAX_CONCURRENT_REQ")
    assert vies.check_vat("CZ", "25596641").status == "valid"
    assert vies_service.requests_served == 2


@pytest.mark.parametrize(("number", "status", "attempts"), [
    ("100", "valid", 1), ("200", "invalid", 1),
    *[(n, "unknown", 3) for n in ("300", "301", "302", *OVERLOAD_CODES)],
])
def test_ec_test_numbers_give_three_valued_answers(vies, vies_service, number, status, attempts):
    """Unavailable, timeout and every *MAX_CONCURRENT_REQ* fault: unknown, never invalid."""
    assert vies.check_vat("BE", number).status == status
    assert vies_service.checked.count("BE" + number) == attempts


@pytest.mark.parametrize(("number", "error"), [
    ("201", BadRecordError), ("202", ConnectorConfigError), ("400", RemoteRefusedError),
    ("401", RemoteRefusedError)])
def test_ec_test_numbers_that_are_not_answers(vies, vies_service, number, error):
    with pytest.raises(error):
        vies.check_vat("BE", number)
    assert vies_service.checked.count("BE" + number) == 1  # refusals are never retried


def test_an_undocumented_fault_is_not_retried_and_leaves_the_number_unknown(vies, vies_service):
    vies_service.records["BE0999999999"] = {"fault": "QUOTA_EXCEEDED"}
    with pytest.raises(RemoteRefusedError, match="unknown VIES fault: QUOTA_EXCEEDED") as err:
        vies.check_vat("BE", "0999999999")
    assert err.value.outcome == "unknown" and vies_service.checked == ["BE0999999999"]


@pytest.mark.parametrize("country_number", [("XX", "12345678"), ("CZ", "25596641-ABC-123456"),
                                            ("CZ", "1"), ("US", "123456789")])
def test_input_that_cannot_match_is_refused_before_calling(vies, vies_service, country_number):
    with pytest.raises(BadRecordError) as err:
        vies.check_vat(*country_number)
    assert err.value.detail == "INVALID_INPUT" and vies_service.checked == []


@pytest.mark.parametrize("mode", ["doctype", "entity_bomb"])
def test_unsafe_responses_fail_at_once(vies, vies_service, mode):
    vies_service.fail_next(mode)
    with pytest.raises(SecurityError):
        vies.check_vat("CZ", "25596641")
    assert vies_service.requests_served == 1


@pytest.mark.parametrize("mode", ["html", "html_page:200", "html_page:503"])
def test_an_html_page_is_a_transport_failure_and_retried(vies, vies_service, mode):
    """A page starting with <!DOCTYPE html> is no XML at all: never parsed, never a DTD."""
    vies_service.fail_next(mode)
    assert vies.check_vat("CZ", "25596641").status == "valid"
    vies_service.fail_next(mode, mode, mode)
    with pytest.raises(TransientError, match="not XML|HTTP 503"):
        vies.check_vat("CZ", "25596641")
    assert vies_service.requests_served == 2 + 3  # each page was retried, up to the bound


def test_vies_down_is_transient_not_unknown(vies, vies_service):
    vies_service.fail_next("http503", "http503", "http503")
    with pytest.raises(TransientError):
        vies.check_vat("CZ", "25596641")
    assert vies_service.requests_served == 3


def test_slow_answer_times_out_and_is_retried(vies_conn, vies_service):
    # A timeout generous enough for a loaded CI machine's normal answer; slow answers past it.
    vies = ViesConnector(Settings(retry_attempts=2, operation_timeout=0.6, **FAST_RETRY),
                         vies_conn)
    vies_service.fail_next("slow:1.5")
    assert vies.check_vat("CZ", "25596641").status == "valid"
    vies_service.fail_next("slow:1.5", "slow:1.5")
    with pytest.raises(TransientError, match="timed out"):
        vies.check_vat("CZ", "25596641")


@pytest.mark.parametrize(("sample", "status", "name"), [
    ("checkVatResponse-valid-LU.xml", "valid", "AMAZON EUROPE CORE S.A R.L."),
    ("checkVatResponse-valid-DE-name-address-hidden.xml", "valid", None),
    ("checkVatResponse-invalid-CZ-empty-fields.xml", "invalid", None),
    ("checkVatResponse-invalid-DK-raw.xml", "invalid", None),
])
def test_real_vies_responses_are_read(vies, vies_service, sample, status, name):
    vies_service.fail_next(f"sample:{SAMPLES / sample}")
    check = vies.check_vat("CZ", "25596641")
    assert check.status == status
    assert check.name == name  # "---" and empty both mean not disclosed


def test_real_invalid_input_fault_is_a_bad_record(vies, vies_service):
    vies_service.fail_next(f"sample:{SAMPLES / 'soapFault-INVALID_INPUT.xml'}")
    with pytest.raises(BadRecordError):
        vies.check_vat("CZ", "25596641")


def test_check_vat_approx_returns_a_consultation_number(vies_conn, vies_service):
    vies = ViesConnector(Settings(requester_vat_id="cz 255 966 41", **FAST_RETRY), vies_conn)
    check = vies.check_vat("DE", "312635404")
    assert (check.status, check.operation) == ("valid", "checkVatApprox")
    assert check.request_identifier.startswith("WAPI") and isinstance(check.request_date, date)
    invalid = vies.check_vat("CZ", "12345679")
    assert invalid.status == "invalid" and invalid.request_identifier


def test_requester_vies_refuses_is_a_config_error(vies_conn):
    vies = ViesConnector(Settings(requester_vat_id="CZ12345679", **FAST_RETRY), vies_conn)
    with pytest.raises(ConnectorConfigError):
        vies.check_vat("CZ", "25596641")


def test_requester_from_the_connection_when_hub_yaml_names_none(vies_conn):
    conn = dataclasses.replace(vies_conn, extra={**vies_conn.extra, "requester_vat_id": "CZ25596641"})
    check = ViesConnector(Settings(**FAST_RETRY), conn).check_vat("DE", "312635404")
    assert (check.operation, check.request_identifier[:4]) == ("checkVatApprox", "WAPI")
    yaml_wins = ViesConnector(Settings(requester_vat_id="CZ12345679", **FAST_RETRY), conn)
    assert yaml_wins.settings.requester_vat_id == "CZ12345679"


def test_requester_in_the_connection_must_be_a_vat_id(vies_conn):
    conn = dataclasses.replace(vies_conn, extra={"requester_vat_id": "our company"})
    with pytest.raises(ConnectorConfigError, match="extra.requester_vat_id"):
        ViesConnector(Settings(**FAST_RETRY), conn)


def test_requester_must_be_a_vat_id():
    with pytest.raises(ValidationError):
        Settings(requester_vat_id="hello world")


def _batch(n: int) -> tuple[dict[str, dict], list[str]]:
    ids = [f"CZ{10_000_000 + i}" for i in range(n)]
    return {v: {"valid": True, "name": f"Firma {v}"} for v in ids[::2]}, ids


def test_a_batch_of_500_never_exceeds_the_cap_per_member_state():
    records, ids = _batch(500)
    service = ViesService(records, max_concurrent_per_country=3, latency=0.002)
    service.start()
    try:
        vies = ViesConnector(Settings(max_concurrent_per_country=3, max_workers=12, **FAST_RETRY),
                             loopback_conn("vies", service.port))
        results = vies.check_many(ids + ["DE312635404"])
    finally:
        service.stop()
    assert service.gauge.peak["CZ"] == 3 and service.gauge.refused["CZ"] == 0
    assert sum(r.status == "valid" for r in results.values()) == 250
    assert all(results[v].status == ("valid" if v in records else "invalid") for v in ids)


def test_overload_faults_are_backed_off_and_never_read_as_invalid():
    records, ids = _batch(60)
    service = ViesService(records, max_concurrent_per_country=2, latency=0.005)
    service.start()
    try:
        vies = ViesConnector(Settings(max_concurrent_per_country=6, max_workers=6, retry_attempts=6,
                                      **FAST_RETRY), loopback_conn("vies", service.port))
        results = vies.check_many(ids)
    finally:
        service.stop()
    assert service.gauge.refused["CZ"] > 0  # the cap was set too high: VIES pushed back
    assert all(results[v].status in ("valid", "unknown") for v in records)
    assert all(results[v].status == "unknown" or results[v].fault is None for v in ids)


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


def test_requests_given_up_at_the_timeout_still_count_against_the_cap():
    """Answers slower than the timeout: each request given up stays counted until VIES really
    ends it, so VIES never sees more than the cap in flight (it measures ``peak``)."""
    ids = [f"CZ{10_000_000 + i}" for i in range(4)]
    service = ViesService({v: {"valid": True, "slow": 0.3} for v in ids})
    service.start()
    try:
        vies = ViesConnector(Settings(max_concurrent_per_country=2, max_workers=4,
                                      operation_timeout=0.1, retry_attempts=3, **FAST_RETRY),
                             loopback_conn("vies", service.port))
        results = vies.check_many(ids)
    finally:
        service.stop()
    assert service.gauge.peak["CZ"] == 2
    assert len(service.checked) > len(ids)  # timed out and retried, yet never above the cap
    assert all(isinstance(r, TransientError) and "timed out" in str(r) for r in results.values())


def test_a_batch_yields_each_answer_as_it_arrives_and_stops_at_the_deadline():
    ids = [f"CZ{10_000_000 + i}" for i in range(10)]
    service = ViesService({v: {"valid": True} for v in ids}, latency=0.2)
    service.start()
    try:
        vies = ViesConnector(Settings(max_concurrent_per_country=1, max_workers=2, **FAST_RETRY),
                             loopback_conn("vies", service.port))
        started = time.monotonic()
        answered = list(vies.check_each(ids, until=started + 0.5))
        elapsed = time.monotonic() - started
    finally:
        service.stop()
    assert 1 <= len(answered) <= 3 and elapsed < 0.8  # one at a time, 0.2 s each
    assert all(check.status == "valid" for _, check in answered)


def test_a_wsdl_url_that_serves_html_is_one_contract_error(vies_conn, vies_service):
    vies_service.wsdl_answer = Response(200, HTML_ERROR_PAGE, "text/html")
    vies = ViesConnector(Settings(wsdl_url=f"{vies_service.url}?wsdl", retry_attempts=2,
                                  **FAST_RETRY), vies_conn)
    with pytest.raises(ContractError, match=r"WSDL at http://127.0.0.1:\d+/\S+ did not load"):
        vies.load_contract()
    assert vies_service.requests_served == 2 and vies_service.checked == []


def test_a_wsdl_file_that_is_not_a_wsdl_is_one_contract_error(vies_conn, tmp_path):
    page = tmp_path / "vies.wsdl"
    page.write_bytes(HTML_ERROR_PAGE)
    for settings in (Settings(wsdl_path=page), Settings(wsdl_path=tmp_path / "missing.wsdl")):
        with pytest.raises(ContractError):
            ViesConnector(settings, vies_conn).load_contract()


def test_the_wsdl_fetched_from_the_endpoint_is_used(vies_conn, vies_service):
    vies = ViesConnector(Settings(wsdl_url=f"{vies_service.url}?wsdl", **FAST_RETRY), vies_conn)
    vies.load_contract()
    assert vies.check_vat("CZ", "25596641").status == "valid"


def test_member_state_caps_and_the_global_cap_are_the_configured_ones():
    """CZ's own cap (1) below the default (3), and 4 in flight in all: VIES never refuses."""
    records, ids = _batch(80)
    de = [f"DE{100_000_000 + i}" for i in range(40)]
    service = ViesService(records, max_concurrent_per_country=3, latency=0.003,
                          caps={"CZ": 1}, max_concurrent_total=4)
    service.start()
    try:
        vies = ViesConnector(Settings(max_concurrent_per_country=3,
                                      max_concurrent_by_country={"CZ": 1}, max_workers=4,
                                      **FAST_RETRY), loopback_conn("vies", service.port))
        results = vies.check_many(ids + de)
    finally:
        service.stop()
    assert (service.gauge.peak["CZ"], service.gauge.refused["CZ"]) == (1, 0)
    assert service.gauge.peak["DE"] <= 3 and service.total.peak["*"] <= 4
    assert service.total.refused["*"] == 0
    assert all(not r.busy for r in results.values())


def test_overload_after_the_retries_is_busy_not_an_answer(vies, vies_service):
    check = vies.check_vat("BE", "600")  # EC test number: MS_MAX_CONCURRENT_REQ
    assert (check.status, check.busy) == ("unknown", True)
    assert not vies.check_vat("FR", "40303265045").busy  # MS_UNAVAILABLE: an unknown answer


def test_check_status_names_the_member_states_that_are_down(vies, vies_service):
    vies_service.down = {"FR", "DE"}
    assert vies.unavailable_member_states() == {"FR", "DE"}
    assert vies.check_vat("FR", "40303265045").fault == "MS_UNAVAILABLE"
    vies_service.vow_available = False  # VIES itself: every member state
    assert "CZ" in vies.unavailable_member_states()
    vies_service.status_answer = Response(503, HTML_ERROR_PAGE, "text/html")
    with pytest.raises(TransientError):
        vies.unavailable_member_states()
    # the FR check's three attempts; check-status (2 answers, then 3 attempts) is apart
    assert (vies_service.requests_served, vies_service.status_requests) == (3, 5)


def test_member_state_caps_must_name_member_states():
    with pytest.raises(ValidationError, match="member state"):
        Settings(max_concurrent_by_country={"US": 1})


def test_check_status_is_asked_on_the_soap_services_host(vies_service):
    """``extra.endpoint`` moves the SOAP path; check-status keeps its own path on that host."""
    conn = dataclasses.replace(loopback_conn("vies", vies_service.port),
                               extra={"endpoint": ViesService.PATH})
    vies_service.down = {"SK"}
    assert ViesConnector(Settings(**FAST_RETRY), conn).unavailable_member_states() == {"SK"}
