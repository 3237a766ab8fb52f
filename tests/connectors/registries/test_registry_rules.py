"""The registries' failure tables, row by row: the class, the action, and the status a registry
check records (``outcome``), all from the row that matched. Real zeep and requests exceptions;
``Answered`` is what the connectors raise for an error a registry puts in its answer body."""

from __future__ import annotations

import pytest
import requests
from zeep import exceptions as zx

from connectors.classify import Answered, Rules, classify
from connectors.errors import (
    Action,
    BadRecordError,
    ConnectorConfigError,
    ConnectorError,
    RemoteRefusedError,
    SecurityError,
    TransientError,
)
from connectors.registries import ares, isir, vies
from connectors.soap.security import NotSoapResponse, screen_response


def _vies_fault(code: str) -> zx.Fault:
    return zx.Fault(code, code="env:Server")  # VIES: the code is the faultstring


ROWS: list[tuple[str, Rules, BaseException, type[ConnectorError], Action, str | None, str]] = [
    # (id, table, error, class, action, outcome, detail)
    *[(f"vies-{code}", vies.RULES, _vies_fault(code), TransientError, Action.RETRY, "unknown",
       code) for code in ("MS_UNAVAILABLE", "TIMEOUT", "SERVICE_UNAVAILABLE", "SERVER_BUSY",
                          "GLOBAL_MAX_CONCURRENT_REQ", "MS_MAX_CONCURRENT_REQ",
                          "MS_MAX_CONCURRENT_REQ_TIME", "GLOBAL_MAX_CONCURRENT_REQ_TIME")],
    ("vies-INVALID_INPUT", vies.RULES, _vies_fault("INVALID_INPUT"), BadRecordError,
     Action.QUARANTINE, "invalid_input", "INVALID_INPUT"),
    ("vies-input-refused-before-calling", vies.RULES, Answered("INVALID_INPUT", "'XX' '1'"),
     BadRecordError, Action.QUARANTINE, "invalid_input", "INVALID_INPUT"),
    ("vies-INVALID_REQUESTER_INFO", vies.RULES, _vies_fault("INVALID_REQUESTER_INFO"),
     ConnectorConfigError, Action.FAIL, None, "INVALID_REQUESTER_INFO"),
    ("vies-VAT_BLOCKED", vies.RULES, _vies_fault("VAT_BLOCKED"), RemoteRefusedError,
     Action.REFUSE, "refused", "VAT_BLOCKED"),
    ("vies-IP_BLOCKED", vies.RULES, _vies_fault("IP_BLOCKED"), RemoteRefusedError,
     Action.REFUSE, "refused", "IP_BLOCKED"),
    ("vies-unknown-fault", vies.RULES, _vies_fault("SOMETHING_NEW"), RemoteRefusedError,
     Action.FAIL, "unknown", "Server"),
    ("vies-html-page", vies.RULES, NotSoapResponse("page", status_code=200), TransientError,
     Action.RETRY, "unknown", "200"),
    ("vies-html-404", vies.RULES, NotSoapResponse("page", status_code=404), RemoteRefusedError,
     Action.FAIL, None, "404"),
    ("vies-http-503", vies.RULES, zx.TransportError("down", status_code=503), TransientError,
     Action.RETRY, "unknown", "503"),
    ("vies-dtd", vies.RULES, zx.DTDForbidden("<!DOCTYPE>", None, None), SecurityError,
     Action.FAIL, "security_error", "DTDForbidden"),
    ("vies-timeout", vies.RULES, requests.exceptions.ConnectTimeout("x"), TransientError,
     Action.RETRY, "unknown", "ConnectTimeout"),
    ("isir-WS1", isir.RULES, Answered("WS1", "chybný vstup"), BadRecordError, Action.QUARANTINE,
     "invalid_input", "WS1"),
    *[(f"isir-{code}", isir.RULES, Answered(code), TransientError, Action.RETRY, "unknown", code)
      for code in ("WS4", "SQL1", "SERVER1", "A_CODE_WE_DO_NOT_KNOW")],
    ("isir-http-404", isir.RULES, zx.TransportError("nf", status_code=404), RemoteRefusedError,
     Action.FAIL, None, "404"),
    ("ares-400", ares.RULES, Answered("CHYBA_VSTUPU", "NEPLATNE_ICO", status=400),
     BadRecordError, Action.QUARANTINE, "invalid_input", "CHYBA_VSTUPU"),
    ("ares-400-without-body", ares.RULES, Answered(None, status=400), BadRecordError,
     Action.QUARANTINE, "invalid_input", "400"),
    ("ares-empty-ico", ares.RULES, Answered("CHYBA_VSTUPU", "empty IČO"), BadRecordError,
     Action.QUARANTINE, "invalid_input", "CHYBA_VSTUPU"),
    ("ares-500", ares.RULES, Answered("OBECNA_CHYBA", status=500), TransientError, Action.RETRY,
     "unknown", "OBECNA_CHYBA"),
    ("ares-429", ares.RULES, Answered(None, status=429), TransientError, Action.RETRY, "unknown",
     "429"),
    ("ares-403", ares.RULES, Answered(None, status=403), ConnectorConfigError, Action.FAIL, None,
     "403"),
    ("ares-200-not-json", ares.RULES, Answered(None, "not JSON", status=200), RemoteRefusedError,
     Action.FAIL, None, "200"),
    ("ares-409", ares.RULES, Answered("NECO", status=409), RemoteRefusedError, Action.FAIL, None,
     "NECO"),
]


@pytest.mark.parametrize(("table", "error", "cls", "action", "outcome", "detail"),
                         [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_each_row(table: Rules, error: BaseException, cls: type[ConnectorError], action: Action,
                  outcome: str | None, detail: str) -> None:
    classified = classify(error, table, system="registry")
    assert type(classified) is cls
    assert (classified.action, classified.outcome, classified.detail) == (action, outcome, detail)


def test_the_unavailable_row_is_the_one_the_connectors_turn_into_unknown() -> None:
    assert classify(_vies_fault("MS_UNAVAILABLE"), vies.RULES, system="v").rule is \
        vies.UNAVAILABLE
    assert classify(zx.TransportError("x", status_code=503), vies.RULES,
                    system="v").rule is not vies.UNAVAILABLE  # VIES down: not an answer
    assert classify(Answered("SERVER1"), isir.RULES, system="i").rule is isir.UNAVAILABLE


def test_an_unknown_vies_fault_names_itself() -> None:
    error = classify(_vies_fault("SOMETHING_NEW"), vies.RULES, system="vies")
    assert str(error) == "[vies] unknown VIES fault: SOMETHING_NEW"


@pytest.mark.parametrize(("content_type", "body"), [
    ("text/html", b"<!DOCTYPE html>\n<html><body>503</body></html>"),
    ("text/xml", b"<!DOCTYPE html>\n<html><body>503</body></html>"),  # mislabelled
    ("text/xml", b'<?xml version="1.0"?>\n<!-- gw -->\n<html><body>x</body></html>'),
    ("text/plain", b"Service Unavailable"),
])
def test_a_page_that_is_not_xml_is_not_soap_whatever_its_doctype(content_type, body) -> None:
    with pytest.raises(NotSoapResponse):
        screen_response(200, content_type, body)


def test_an_xml_body_with_a_dtd_stays_a_security_error() -> None:
    with pytest.raises(zx.DTDForbidden):
        screen_response(200, "text/xml", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x/>')
