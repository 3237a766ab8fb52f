"""CrmSoapConnector against the sandbox CRM over loopback, with real zeep and requests."""

from __future__ import annotations

import logging
import socket

import pytest
from pydantic import ValidationError

from connectors.base import Write
from connectors.errors import ConnectorConfigError, SecurityError, TransientError
from connectors.soap.crm import CrmSoapConnector, Settings
from tests.fixtures.soap import CRM_PASSWORD, CRM_USER, loopback_conn

pytestmark = pytest.mark.integration

SAME_SECOND = "2024-05-01T10:00:00Z"


def _accounts(n: int, modified_at: str) -> list[dict]:
    return [{"AccountId": f"CRM-{i:06d}", "Name": f"Firma {i} s.r.o.", "CompanyId": "",
             "VatId": "", "Street": "Dlouhá 1", "City": "Praha", "PostalCode": "110 00",
             "CountryCode": "CZ", "Email": "", "Phone": "", "ModifiedAt": modified_at}
            for i in range(n)]


def _connector(conn, **settings) -> CrmSoapConnector:
    return CrmSoapConnector("crm", Settings(retry_attempts=2, **settings), conn)


def test_paging_with_one_modified_second_loses_and_doubles_nothing(crm_service, crm_conn):
    crm_service.load(_accounts(11, SAME_SECOND))
    crm_service.load([{"AccountId": "CRM-100000", "Name": "Later a.s.",
                       "ModifiedAt": "2024-05-01T10:00:00.500000Z"}])
    pages = list(_connector(crm_conn, page_size=4).read_pages(None))
    ids = [r.record_id for page in pages for r in page.records]
    assert ids == [f"CRM-{i:06d}" for i in range(11)] + ["CRM-100000"]
    assert [len(p.records) for p in pages] == [4, 4, 4]
    assert pages[0].cursor == {"modified_at": "2024-05-01T10:00:00+00:00", "id": "CRM-000003"}
    resumed = [r.record_id for p in _connector(crm_conn, page_size=4).read_pages(pages[0].cursor)
               for r in p.records]
    assert resumed == ids[4:]


def test_record_shape_and_incremental_read(crm_service, crm_conn):
    crm_service.load(_accounts(2, SAME_SECOND))
    connector = _connector(crm_conn)
    [page] = list(connector.read_pages(None))
    record = page.records[0]
    assert record.version == "1"
    assert record.payload["ModifiedAt"] == "2024-05-01T10:00:00+00:00"
    assert record.payload["Name"] == "Firma 0 s.r.o."
    assert list(connector.read_pages(page.cursor)) == []

    result = connector.write([Write("k-1", "CRM-000000", {"City": "Brno"}, "1")], "batch-1")
    assert result.applied == ["k-1"]
    [changed] = [r for p in connector.read_pages(page.cursor) for r in p.records]
    assert (changed.record_id, changed.version) == ("CRM-000000", "2")
    assert changed.payload["City"] == "Brno"
    assert changed.payload["Street"] == "Dlouhá 1"  # fields not written are left unchanged


def test_stale_version_is_refused_as_conflict_and_not_overwritten(crm_service, crm_conn):
    crm_service.load(_accounts(1, SAME_SECOND))
    connector = _connector(crm_conn)
    connector.write([Write("k-crm", "CRM-000000", {"Name": "Changed in CRM"}, "1")], "b0")
    result = connector.write([Write("k-hub", "CRM-000000", {"Name": "Hub value"}, "1")], "b1")
    assert result.applied == []
    [refusal] = result.refused
    assert refusal.conflict and refusal.idempotency_key == "k-hub"
    [account] = crm_service.accounts()
    assert (account["Name"], account["Version"]) == ("Changed in CRM", 2)


def test_replayed_batch_counts_as_applied_without_a_second_change(crm_service, crm_conn):
    crm_service.load(_accounts(1, SAME_SECOND))
    connector = _connector(crm_conn)
    writes = [Write("k-1", "CRM-000000", {"Email": "info@firma.cz"}, "1"),
              Write("k-2", "CRM-NEW001", {"Name": "Nová s.r.o.", "CountryCode": "CZ"})]
    first = connector.write(writes, "batch-7")
    again = connector.write(writes, "batch-7")
    assert first.applied == again.applied == ["k-1", "k-2"]
    assert again.refused == []
    assert {a["AccountId"]: a["Version"] for a in crm_service.accounts()} == \
        {"CRM-000000": 2, "CRM-NEW001": 1}


def test_unwritable_field_and_oversized_value_are_refused_per_record(crm_service, crm_conn):
    crm_service.load(_accounts(1, SAME_SECOND))
    result = _connector(crm_conn).write([
        Write("k-bad-field", "CRM-000000", {"ModifiedAt": "2020-01-01"}, "1"),
        Write("k-too-long", "CRM-000000", {"Name": "x" * 300}, "1"),
        Write("k-ok", "CRM-000000", {"Phone": "+420 777 000 111"}, "1"),
    ], "b")
    assert result.applied == ["k-ok"]
    assert [(r.idempotency_key, r.conflict) for r in result.refused] == \
        [("k-bad-field", False), ("k-too-long", False)]


def test_bad_credentials_are_a_config_error_without_the_password(crm_service):
    wrong = "not-the-password"
    conn = loopback_conn("crm_soap", crm_service.port, CRM_USER, wrong)
    connector = _connector(conn)
    with pytest.raises(ConnectorConfigError) as err:
        list(connector.read_pages(None))
    assert wrong not in str(err.value) and wrong not in repr(err.value)
    ok, message = connector.test_connection()
    assert not ok and "FailedAuthentication" in message and wrong not in message


def test_test_connection_succeeds_with_right_credentials(crm_conn):
    ok, message = _connector(crm_conn).test_connection()
    assert ok and CRM_PASSWORD not in message


def test_response_with_doctype_is_a_security_error(crm_service, crm_conn):
    crm_service.load(_accounts(1, SAME_SECOND))
    crm_service.fail_next("doctype")
    with pytest.raises(SecurityError):
        list(_connector(crm_conn).read_pages(None))


def test_http_503_is_retried_then_succeeds(crm_service, crm_conn):
    crm_service.load(_accounts(3, SAME_SECOND))
    crm_service.fail_next("http503")
    pages = list(_connector(crm_conn).read_pages(None))
    assert sum(len(p.records) for p in pages) == 3
    assert crm_service.requests_served == 2


def test_unreachable_crm_is_transient():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    connector = _connector(loopback_conn("crm_soap", port, CRM_USER, CRM_PASSWORD),
                           connect_timeout=0.5)
    with pytest.raises(TransientError):
        list(connector.read_pages(None))


def test_envelopes_in_debug_logs_mask_the_token(crm_service, crm_conn, caplog):
    crm_service.load(_accounts(1, SAME_SECOND))
    with caplog.at_level(logging.DEBUG):
        list(_connector(crm_conn).read_pages(None))
    assert "UsernameToken" in caplog.text and "***" in caplog.text
    assert CRM_PASSWORD not in caplog.text


def test_settings_forbid_unknown_keys():
    with pytest.raises(ValidationError):
        Settings(page_size=10, pagesize=10)
