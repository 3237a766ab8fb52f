"""The sandbox CRM on the wire: WSDL, persistence, WS-Security checks, hardened parsing."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest
import requests
import zeep
from lxml import etree

from sandbox.crm_service import DIGEST, CrmService
from tests.fixtures.soap import CRM_PASSWORD, CRM_USER

pytestmark = pytest.mark.integration

NS = "urn:custhub:crm:accounts:v1"


def _envelope(created: datetime | None = None, nonce: bytes | None = None,
              password: str = CRM_PASSWORD, doctype: bool = False) -> bytes:
    nonce = nonce or os.urandom(16)
    stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + stamp.encode() + password.encode()).digest())
    head = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' if doctype else ""
    return f"""{head}<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
 xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">
<s:Header><wsse:Security><wsse:UsernameToken><wsse:Username>{CRM_USER}</wsse:Username>
<wsse:Password Type="{DIGEST}">{digest.decode()}</wsse:Password>
<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{stamp}</wsu:Created>
</wsse:UsernameToken></wsse:Security></s:Header>
<s:Body><c:GetAccountsModifiedSince xmlns:c="{NS}"><c:pageSize>5</c:pageSize>
</c:GetAccountsModifiedSince></s:Body>
</s:Envelope>""".encode()


def _post(service: CrmService, body: bytes) -> tuple[int, str]:
    response = requests.post(service.url, data=body, timeout=5,
                             headers={"Content-Type": "text/xml; charset=utf-8"})
    root = etree.fromstring(response.content)
    return response.status_code, root.findtext(".//faultstring") or "ok"


def test_wsdl_is_served_with_its_own_address(crm_service):
    response = requests.get(crm_service.url, params="wsdl", timeout=5)
    assert response.status_code == 200
    client = zeep.Client(crm_service.url + "?wsdl")
    assert client.service._binding_options["address"] == crm_service.url


def test_valid_digest_is_accepted_and_a_replayed_nonce_is_not(crm_service):
    body = _envelope()
    assert _post(crm_service, body) == (200, "ok")
    assert _post(crm_service, body)[0] == 500  # same nonce again: replay


@pytest.mark.parametrize("body", [
    _envelope(password="wrong"),
    _envelope(created=datetime.now(UTC) - timedelta(hours=1)),
], ids=["wrong-password", "stale-created"])
def test_bad_tokens_are_refused(crm_service, body):
    status, message = _post(crm_service, body)
    assert status == 500 and "could not be authenticated" in message


def test_doctype_in_a_request_is_rejected(crm_service):
    status, message = _post(crm_service, _envelope(doctype=True))
    assert status == 500 and "DOCTYPE" in message


def test_state_persists_across_restarts(tmp_path):
    db = str(tmp_path / "crm.sqlite")
    first = CrmService(db, CRM_USER, CRM_PASSWORD)
    first.start()
    first.load([{"AccountId": "CRM-000001", "Name": "Trvalá s.r.o."}])
    first.stop()
    second = CrmService(db, CRM_USER, CRM_PASSWORD)
    second.start()
    try:
        [account] = second.accounts()
    finally:
        second.stop()
    assert (account["Name"], account["Version"], account["CompanyId"]) == ("Trvalá s.r.o.", 1, "")
    assert account["ModifiedAt"].endswith("Z")


def test_upsert_bumps_version_and_modified_at(crm_service):
    crm_service.load([{"AccountId": "CRM-1", "Name": "A", "ModifiedAt": "2024-01-01T00:00:00Z"}])
    assert crm_service.store.upsert({"AccountId": "CRM-1", "City": "Brno"}, 1) == 2
    [account] = crm_service.accounts()
    assert account["Version"] == 2 and account["Name"] == "A" and account["City"] == "Brno"
    assert account["ModifiedAt"] > "2024-01-01T00:00:00.000000Z"
