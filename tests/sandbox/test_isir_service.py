"""The sandbox ISIR on the wire: the packaged WSDL and XSD, loadable by zeep from the sandbox."""

from __future__ import annotations

import pytest
import requests
import zeep

from sandbox.isir_service import XSD_FILE

pytestmark = pytest.mark.integration


def test_wsdl_and_xsd_are_served_and_zeep_loads_them(isir_service):
    assert requests.get(isir_service.url, params="xsd=1", timeout=5).content == \
        XSD_FILE.read_bytes()
    client = zeep.Client(isir_service.url + "?wsdl")  # the sandbox rewrote the https import
    reply = client.service.getIsirWsCuzkData(ic="12345678")
    assert reply.stav.kodChyby == "WS2" and not reply.data


def test_bad_ico_is_ws1(isir_service):
    body = ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            '<t:getIsirWsCuzkDataRequest xmlns:t="http://isirws.cca.cz/types/"><ic>12</ic>'
            '</t:getIsirWsCuzkDataRequest></s:Body></s:Envelope>')
    response = requests.post(isir_service.url, data=body.encode(), timeout=5)
    assert response.status_code == 200 and b"<kodChyby>WS1</kodChyby>" in response.content
