"""The sandbox VIES on the wire: the real WSDL, the 2022 response shape, VIES faults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from lxml import etree

from sandbox.vies_service import WSDL_FILE

pytestmark = pytest.mark.integration

TYPES = "urn:ec.europa.eu:taxud:vies:services:checkVat:types"
REAL_ADDRESS = b"http://ec.europa.eu/taxation_customs/vies/services/checkVatService"


def _check(url: str, country: str, number: str) -> requests.Response:
    body = f"""<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:urn="{TYPES}"><soapenv:Header/><soapenv:Body><urn:checkVat>
<urn:countryCode>{country}</urn:countryCode><urn:vatNumber>{number}</urn:vatNumber>
</urn:checkVat></soapenv:Body></soapenv:Envelope>"""
    return requests.post(url, data=body.encode(), timeout=5, headers={"Content-Type": "text/xml"})


def test_serves_the_real_wsdl_with_only_the_address_changed(vies_service):
    served = requests.get(vies_service.url, params="wsdl", timeout=5).content
    assert served.replace(vies_service.url.encode(), REAL_ADDRESS) == Path(WSDL_FILE).read_bytes()


def test_valid_answer_has_the_2022_shape(vies_service):
    response = _check(vies_service.url, "CZ", "25596641")
    assert response.status_code == 200
    assert response.text.count("<env:") >= 3 and "<ns2:checkVatResponse" in response.text
    root = etree.fromstring(response.content)
    request_date = root.findtext(f".//{{{TYPES}}}requestDate")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d(Z|[+-]\d\d:\d\d)", request_date)
    assert root.findtext(f".//{{{TYPES}}}valid") == "true"


def test_invalid_answer_has_empty_number_and_dashes(vies_service):
    root = etree.fromstring(_check(vies_service.url, "CZ", "12345679").content)
    assert root.findtext(f".//{{{TYPES}}}valid") == "false"
    assert root.findtext(f".//{{{TYPES}}}vatNumber") == ""
    assert root.findtext(f".//{{{TYPES}}}name") == "---"


@pytest.mark.parametrize(("country", "number", "code"), [
    ("CZ", "12-34", "INVALID_INPUT"), ("US", "123456789", "INVALID_INPUT"),
    ("FR", "40303265045", "MS_UNAVAILABLE"),
])
def test_faults(vies_service, country, number, code):
    response = _check(vies_service.url, country, number)
    root = etree.fromstring(response.content)
    assert response.status_code == 500
    assert (root.findtext(".//faultcode"), root.findtext(".//faultstring")) == ("env:Server", code)


def _approx(url: str, country: str, number: str, requester: tuple[str, str]) -> requests.Response:
    body = f"""<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:urn="{TYPES}"><soapenv:Body><urn:checkVatApprox>
<urn:countryCode>{country}</urn:countryCode><urn:vatNumber>{number}</urn:vatNumber>
<urn:requesterCountryCode>{requester[0]}</urn:requesterCountryCode>
<urn:requesterVatNumber>{requester[1]}</urn:requesterVatNumber>
</urn:checkVatApprox></soapenv:Body></soapenv:Envelope>"""
    return requests.post(url, data=body.encode(), timeout=5, headers={"Content-Type": "text/xml"})


def test_check_vat_approx_gives_a_consultation_number_to_a_known_requester(vies_service):
    root = etree.fromstring(_approx(vies_service.url, "CZ", "12345679", ("CZ", "25596641")).content)
    assert root.findtext(f".//{{{TYPES}}}requestIdentifier").startswith("WAPI")
    refused = _approx(vies_service.url, "CZ", "12345679", ("CZ", "12345679"))
    assert refused.status_code == 500 and b"INVALID_REQUESTER_INFO" in refused.content


def test_above_its_limit_a_member_state_answers_max_concurrent(vies_service):
    from concurrent.futures import ThreadPoolExecutor

    vies_service.gauge.limit, vies_service.latency = 1, 0.2
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: _check(vies_service.url, "CZ", "25596641"), range(3)))
    assert sorted(a.status_code for a in answers) == [200, 500, 500]
    assert vies_service.gauge.peak["CZ"] == 1 and vies_service.gauge.refused["CZ"] == 2
