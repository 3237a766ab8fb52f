"""The CRM's failure table (its rows, then the shared HTTP and SOAP rows), row by row, with real
zeep, requests and lxml exceptions."""

from __future__ import annotations

import socket

import pytest
import requests
from lxml import etree
from zeep import exceptions as zx

from connectors.classify import classify
from connectors.errors import (
    Action,
    BadRecordError,
    ConnectorConfigError,
    ConnectorError,
    RemoteRefusedError,
    SecurityError,
    TransientError,
    WriteConflictError,
)
from connectors.soap.crm import RULES
from connectors.soap.security import NotSoapResponse


def _refused_connection() -> requests.ConnectionError:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        requests.get(f"http://127.0.0.1:{port}/crm", timeout=2)
    except requests.ConnectionError as e:
        return e
    raise AssertionError("nothing should listen there")


def _not_xml() -> etree.XMLSyntaxError:
    try:
        etree.fromstring(b"<html><body>Service Unavailable")
    except etree.XMLSyntaxError as e:
        return e
    raise AssertionError("that was not XML")


def _http(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(response=response)


ROWS = [
    # (error, class, action, words in the message, detail)
    (zx.Fault("VersionConflict", code="env:Client"),  # as the sandbox CRM sends it
     WriteConflictError, Action.QUARANTINE, "VersionConflict", "VersionConflict"),
    (zx.Fault("no such account", code="crm:InvalidAccount"), BadRecordError, Action.QUARANTINE,
     "InvalidAccount", "InvalidAccount"),
    (zx.Fault("The security token could not be authenticated",
              code="wsse:FailedAuthentication"), ConnectorConfigError, Action.FAIL,
     "FailedAuthentication", "FailedAuthentication"),
    (zx.Fault("bad request", code="env:Client"), RemoteRefusedError, Action.FAIL, "Client",
     "Client"),
    (zx.Fault("busy", code="env:Server.Busy"), TransientError, Action.RETRY, "Server.Busy",
     "Server.Busy"),
    # the one change the table brings: a fault no row knows is a refusal that names its code
    (zx.Fault("header not understood", code="env:MustUnderstand"), RemoteRefusedError,
     Action.FAIL, "unknown SOAP fault MustUnderstand", "MustUnderstand"),
    (zx.Fault(None, code=None), RemoteRefusedError, Action.FAIL, "unknown SOAP fault", "Fault"),
    (zx.DTDForbidden("<!DOCTYPE>", None, None), SecurityError, Action.FAIL, "DTD",
     "DTDForbidden"),
    (zx.EntitiesForbidden("bomb", "<!ENTITY"), SecurityError, Action.FAIL, "entities",
     "EntitiesForbidden"),
    (zx.ExternalReferenceForbidden("http://x"), SecurityError, Action.FAIL, "external",
     "ExternalReferenceForbidden"),
    (requests.exceptions.SSLError("certificate verify failed"), SecurityError, Action.FAIL,
     "TLS", "SSLError"),
    (requests.exceptions.ReadTimeout("read timed out"), TransientError, Action.RETRY,
     "timed out", "ReadTimeout"),
    (_refused_connection(), TransientError, Action.RETRY, "connection failed",
     "ConnectionError"),
    (zx.TransportError("Server Error", status_code=500), TransientError, Action.RETRY,
     "HTTP 500", "500"),
    (zx.TransportError("Too Many", status_code=429), TransientError, Action.RETRY, "HTTP 429",
     "429"),
    (_http(503), TransientError, Action.RETRY, "HTTP 503", "503"),
    (zx.TransportError("Unauthorized", status_code=401), ConnectorConfigError, Action.FAIL,
     "credentials refused", "401"),
    (zx.TransportError("Not Found", status_code=404), RemoteRefusedError, Action.FAIL,
     "HTTP 404", "404"),
    (NotSoapResponse("HTTP 200 with a non-SOAP body", status_code=200), TransientError,
     Action.RETRY, "not XML", "200"),
    (NotSoapResponse("HTTP 404 with a non-SOAP body", status_code=404), RemoteRefusedError,
     Action.FAIL, "HTTP 404", "404"),
    (NotSoapResponse("HTTP 502 with a non-SOAP body", status_code=502), TransientError,
     Action.RETRY, "HTTP 502", "502"),
    (zx.ValidationError("Max length exceeded"), BadRecordError, Action.QUARANTINE,
     "does not fit the WSDL", "ValidationError"),
    (zx.XMLParseError("unexpected element"), RemoteRefusedError, Action.FAIL,
     "does not match the WSDL", "XMLParseError"),
    (_not_xml(), RemoteRefusedError, Action.FAIL, "not well-formed XML", "XMLSyntaxError"),
    (ValueError("a bug, not a failure"), RemoteRefusedError, Action.FAIL, "unexpected",
     "ValueError"),
]


@pytest.mark.parametrize(("error", "cls", "action", "words", "detail"), ROWS,
                         ids=[f"{i}-{type(r[0]).__name__}" for i, r in enumerate(ROWS)])
def test_each_row(error: BaseException, cls: type[ConnectorError], action: Action, words: str,
                  detail: str) -> None:
    classified = classify(error, RULES, system="crm")
    assert type(classified) is cls
    assert (classified.action, classified.kind, classified.detail) == (action, cls.kind, detail)
    assert words in str(classified) and str(classified).startswith("[crm] ")
    assert classified.rule is not None and classified.rule.action is action


def test_rows_are_read_top_down_the_first_match_wins() -> None:
    # SSLError is a ConnectionError too; its own row sits above, and it is not retried
    assert issubclass(requests.exceptions.SSLError, requests.exceptions.ConnectionError)
    assert classify(requests.exceptions.SSLError("x"), RULES, system="crm").action is Action.FAIL
