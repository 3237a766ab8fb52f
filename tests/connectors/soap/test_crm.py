"""CrmSoapConnector against the sandbox CRM over loopback, with real zeep and requests."""

from __future__ import annotations

import logging
import socket

import pytest
import zeep
from pydantic import ValidationError

from connectors.base import Write
from connectors.errors import (
    ConnectorConfigError,
    RemoteRefusedError,
    SecurityError,
    TransientError,
)
from connectors.soap.crm import CrmSoapConnector, Settings
from connectors.soap.security import MaskingTransport
from tests.fixtures.soap import CRM_PASSWORD, CRM_USER, loopback_conn

pytestmark = pytest.mark.integration

SAME_SECOND = "2024-05-01T10:00:00Z"


def _accounts(n: int, modified_at: str) -> list[dict]:
    return [{"AccountId": f"CRM-{i:06d}", "Name": f"Firma {i} s.r.o.", "CompanyId": "",
             "VatId": "", "Street": "Dlouhá 1", "City": "Praha", "PostalCode": "110 00",
             "CountryCode": "CZ", "Email": "", "Phone": "", "ModifiedAt": modified_at}
            for i in range(n)]


def _connector(conn, **settings) -> CrmSoapConnector:
    settings = {"retry_attempts": 2, "retry_initial_wait": 0.01, "retry_max_wait": 0.02,
                **settings}
    return CrmSoapConnector("crm", Settings(**settings), conn)


def test_paging_with_one_modified_second_loses_and_doubles_nothing(crm_service, crm_conn):
    crm_service.load(_accounts(11, SAME_SECOND))
    crm_service.load([{"AccountId": "CRM-100000", "Name": "Later a.s.",
                       "ModifiedAt": "2024-05-01T10:00:00.500000Z"}])
    pages = list(_connector(crm_conn, page_size=4).read_pages(None))
    ids = [r.record_id for page in pages for r in page.records]
    assert ids == [f"CRM-{i:06d}" for i in range(11)] + ["CRM-100000"]
    assert [len(p.records) for p in pages] == [4, 4, 4]
    assert pages[0].cursor == {"field": "ModifiedAt", "start": "2024-05-01T10:00:00+00:00",
                               "key": "CRM-000003", "end": None}
    # A resumed run starts closed at the stored instant: the boundary second is read again (the
    # hub skips those records by content hash), and nothing after it is missed.
    resumed = [r.record_id for p in _connector(crm_conn, page_size=4).read_pages(pages[0].cursor)
               for r in p.records]
    assert resumed == ids


def test_late_record_in_the_boundary_second_with_a_smaller_id_is_not_missed(crm_service,
                                                                            crm_conn):
    crm_service.load(_accounts(3, SAME_SECOND)[1:])  # CRM-000001, CRM-000002
    [page] = list(_connector(crm_conn).read_pages(None))
    assert page.cursor == {"field": "ModifiedAt", "start": "2024-05-01T10:00:00+00:00",
                           "key": "CRM-000002", "end": None}
    crm_service.load(_accounts(1, SAME_SECOND))  # committed later, same second, smaller id
    again = [r.record_id for p in _connector(crm_conn).read_pages(page.cursor) for r in p.records]
    assert "CRM-000000" in again


def test_record_shape_and_incremental_read(crm_service, crm_conn):
    crm_service.load(_accounts(2, SAME_SECOND))
    connector = _connector(crm_conn)
    [page] = list(connector.read_pages(None))
    record = page.records[0]
    assert record.version == "1"
    assert record.payload["ModifiedAt"] == "2024-05-01T10:00:00+00:00"
    assert record.payload["Name"] == "Firma 0 s.r.o."
    # Nothing new: only the boundary second is read again (closed start), unchanged.
    again = [r for p in connector.read_pages(page.cursor) for r in p.records]
    assert again == page.records

    result = connector.write([Write("k-1", "CRM-000000", {"City": "Brno"}, "1")], "batch-1")
    assert result.applied == ["k-1"]
    [changed] = [r for p in connector.read_pages(page.cursor) for r in p.records
                 if r.payload["ModifiedAt"] > SAME_SECOND.replace("Z", "+00:00")]
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
    assert refusal.reason.startswith("conflict: changed in the CRM since read")
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


# --- the failure table, driven through the socket ------------------------------------------------

@pytest.mark.parametrize(("modes", "error", "requests_made"), [
    (["http500", "http500"], TransientError, 2),
    (["http502", "http502"], TransientError, 2),
    (["fault:Server.Busy", "fault:Server.Busy"], TransientError, 2),
    (["slow:0.3", "slow:0.3"], TransientError, 2),
    (["http404"], RemoteRefusedError, 1),
    (["html", "html"], TransientError, 2),  # an HTML page is no answer: retried
    (["doctype"], SecurityError, 1),
    (["entity_bomb"], SecurityError, 1),
], ids=["500", "502", "server-fault", "timeout", "404", "html-200", "xxe", "entity-bomb"])
def test_each_failure_is_classified_and_retried_as_the_table_says(crm_service, crm_conn, modes,
                                                                  error, requests_made):
    crm_service.load(_accounts(1, SAME_SECOND))
    crm_service.fail_next(*modes)
    with pytest.raises(error) as err:
        list(_connector(crm_conn, operation_timeout=0.1).read_pages(None))
    assert crm_service.requests_served == requests_made
    assert err.value.action is error.action
    assert CRM_PASSWORD not in str(err.value) and "UsernameToken" not in str(err.value)


def test_every_call_carries_a_fresh_nonce(crm_service, crm_conn):
    crm_service.load(_accounts(5, SAME_SECOND))
    connector = _connector(crm_conn, page_size=1)
    assert sum(len(p.records) for p in connector.read_pages(None)) == 5
    nonces = list(crm_service._auth._seen)
    assert len(nonces) == crm_service.requests_served == 5 and len(set(nonces)) == 5


def test_zeep_gets_our_session_and_an_operation_timeout(crm_conn):
    connector = _connector(crm_conn, operation_timeout=7, connect_timeout=2)
    transport = connector._client.transport
    assert transport.operation_timeout == (2, 7)
    assert transport.session.trust_env is False and transport.session.verify is True
    settings = connector._client.settings
    assert (settings.forbid_dtd, settings.forbid_entities, settings.forbid_external) == \
        (True, True, True)


def test_the_transport_never_fetches_a_document_over_the_network():
    transport = MaskingTransport(operation_timeout=1)
    with pytest.raises(zeep.exceptions.ExternalReferenceForbidden):
        transport.load("https://crm.example.invalid/crm?wsdl")
