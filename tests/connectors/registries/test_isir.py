"""IsirConnector against the sandbox ISIR over loopback, with real zeep and the packaged WSDL."""

from __future__ import annotations

import pytest

from connectors.errors import BadRecordError, SecurityError, TransientError
from connectors.registries.isir import WSDL, IsirConnector, Settings, ended, local_documents
from connectors.soap import ContractError
from tests.fixtures.soap import FAST_RETRY

pytestmark = pytest.mark.integration


@pytest.fixture
def isir(isir_conn) -> IsirConnector:
    return IsirConnector(Settings(retry_attempts=2, **FAST_RETRY), isir_conn)


def test_company_in_bankruptcy_is_insolvent_and_new_fields_are_tolerated(isir):
    result = isir.lookup("27074358")
    assert result.status == "insolvent"
    [case] = result.proceedings
    assert (case["druhStavKonkursu"], case["bcVec"], case["rocnik"]) == ("KONKURS", 1234, 2024)
    assert "datumPmZahajeniUpadku" not in case  # sent by the service, unknown to the 2019 XSD
    assert result.synced_at.startswith("2026-01-15")


def test_ended_proceedings_and_no_record_are_clear(isir):
    assert isir.lookup("25596641").status == "clear"
    result = isir.lookup("1603094")  # left-padded to 01603094
    assert (result.status, result.ico, result.error_code) == ("clear", "01603094", "WS2")


def test_isir_error_status_is_unknown_after_retries(isir, isir_service):
    result = isir.lookup("11111111")
    assert (result.status, result.error_code) == ("unknown", "SERVER1")
    assert isir_service.asked.count("11111111") == 2


def test_malformed_ico_is_refused_without_a_call(isir, isir_service):
    with pytest.raises(BadRecordError):
        isir.lookup("12-34")
    assert isir_service.asked == []


@pytest.mark.parametrize(("modes", "error", "requests_made"), [
    (["http503", "http503"], TransientError, 2), (["html", "html"], TransientError, 2),
    (["doctype"], SecurityError, 1), (["entity_bomb"], SecurityError, 1)])
def test_failures_are_classified(isir, isir_service, modes, error, requests_made):
    isir_service.fail_next(*modes)
    with pytest.raises(error):
        isir.lookup("27074358")
    assert isir_service.requests_served == requests_made


def test_the_wsdl_import_is_served_locally_never_fetched():
    documents = local_documents()
    wsdl = documents[WSDL.as_uri()]
    assert b"https://isir.justice.cz" not in wsdl.split(b"soap:address")[0]
    assert any(b"processContents" in v for v in documents.values())


@pytest.mark.parametrize(("state", "over"), [("KONKURS", False), ("MORATORIUM", False),
                                             ("ÚPADEK", False), ("PRAVOMOCNA", True),
                                             ("MYLNÝ ZÁP.", True), ("ZRUŠENO VS", True)])
def test_ended(state, over):
    assert ended(state) is over


def test_a_wsdl_that_does_not_load_is_one_contract_error(isir_conn, tmp_path):
    (tmp_path / "isir.wsdl").write_bytes(b"<!DOCTYPE html><html><body>moved</body></html>")
    (tmp_path / "isir.xsd").write_bytes(b"")
    for wsdl in (tmp_path / "isir.wsdl", tmp_path / "missing.wsdl"):
        with pytest.raises(ContractError, match="did not load"):
            IsirConnector(Settings(wsdl_path=wsdl, **FAST_RETRY), isir_conn).load_contract()
