"""The sandbox VIES: the real checkVatService WSDL, answering checkVat and checkVatApprox like VIES
has since 2022.

Responses copy the shape of /work/shared/external/vies/samples: ``env:``/``ns2:`` prefixes, a
``requestDate`` with the Brussels offset, an empty ``vatNumber`` and ``---`` name and address for
an invalid number, ``---`` for a valid number whose state does not disclose them. Faults are
``env:Server`` with the VIES code as faultstring (edited from soapFault-INVALID_INPUT.xml).

    vies = ViesService({"CZ25596641": {"valid": True, "name": "ACME s.r.o.", "address": "..."}},
                       max_concurrent_per_country=3, latency=0.005)
    vies.start()   # http://127.0.0.1:<port>/taxation_customs/vies/services/checkVatService

Misbehaviour, per number: a record ``{"fault": "MS_UNAVAILABLE"}`` always faults for that number,
``{"slow": 0.5}`` always answers late; the EC test-service numbers (``TEST_NUMBERS``: 100 valid,
200 invalid, 201 INVALID_INPUT, 600 MS_MAX_CONCURRENT_REQ, ...) work for every member state.
Per request: the ``fail_next`` modes of ``sandbox.soap_server``, and ``html_page:<status>``, an
HTML error page that starts with ``<!DOCTYPE html>``, as a gateway or a wrong URL answers.
Contract: ``wsdl_answer`` (a ``Response``) replaces what ``GET ?wsdl`` answers (a broken WSDL).
Overload: like a member state, it answers MS_MAX_CONCURRENT_REQ to a request that would take one
country above ``max_concurrent_per_country`` requests in flight (``caps`` for a country's own
figure), and like VIES itself GLOBAL_MAX_CONCURRENT_REQ above ``max_concurrent_total`` in all;
it measures ``peak`` (per country) and ``total.peak``.
Availability: ``GET /taxation_customs/vies/rest-api/check-status`` answers the REST
``StatusInformationResponse`` (vies-on-the-web.swagger.yml): every member state "Available" but
those in ``down`` (tests may edit it live), which also answer MS_UNAVAILABLE to a check;
``vow_available = False`` says VIES itself is down; ``status_answer`` replaces the answer. It is
outside the ``fail_next`` queue and ``requests_served``, which stay the checks'.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree
from lxml.builder import ElementMaker

from sandbox.soap_server import (
    Request,
    Response,
    SoapService,
    XmlRejected,
    envelope,
    fault,
    parse_xml,
    soap_body_child,
)

WSDL_FILE = (Path(__file__).resolve().parent.parent / "connectors" / "registries" / "wsdl"
             / "checkVatService.wsdl")
TYPES = "urn:ec.europa.eu:taxud:vies:services:checkVat:types"
NS2 = ElementMaker(namespace=TYPES, nsmap={"ns2": TYPES})
MEMBER_STATES = frozenset({"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR",
                           "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO",
                           "SE", "SI", "SK", "XI"})
_NUMBER = re.compile(r"[0-9A-Za-z+*.]{2,12}")  # what VIES accepts before asking the state
UNDISCLOSED = "---"
OVERLOAD = "MS_MAX_CONCURRENT_REQ"
# checkVatTestService.wsdl's documented numbers; any other answers from ``records``.
TEST_NUMBERS: dict[str, dict[str, Any]] = {
    "100": {"valid": True, "name": "Test trader", "address": "Test street 1"},
    "200": {"valid": False},
    **{n: {"fault": code} for n, code in (
        ("201", "INVALID_INPUT"), ("202", "INVALID_REQUESTER_INFO"), ("300", "SERVICE_UNAVAILABLE"),
        ("301", "MS_UNAVAILABLE"), ("302", "TIMEOUT"), ("400", "VAT_BLOCKED"), ("401", "IP_BLOCKED"),
        ("500", "GLOBAL_MAX_CONCURRENT_REQ"), ("501", "GLOBAL_MAX_CONCURRENT_REQ_TIME"),
        ("600", "MS_MAX_CONCURRENT_REQ"), ("601", "MS_MAX_CONCURRENT_REQ_TIME"))},
}


HTML_ERROR_PAGE = (b"<!DOCTYPE html>\n<html lang=\"en\"><head><title>503 Service Unavailable</title>"
                   b"</head><body><h1>Service Unavailable</h1></body></html>")


def _request_date() -> str:
    try:
        now = datetime.now(ZoneInfo("Europe/Brussels"))
    except ZoneInfoNotFoundError:  # no tz database on this host: UTC is still a valid xsd:date
        return datetime.now(UTC).strftime("%Y-%m-%dZ")
    offset = now.strftime("%z")
    return f"{now:%Y-%m-%d}{offset[:3]}:{offset[3:]}"


class CountryGauge:
    """Requests in flight per member state, their peak, and refusals above a limit."""

    def __init__(self, limit: int | None, caps: dict[str, int] | None = None):
        self.limit = limit
        self.caps = dict(caps or {})  # a country's own limit where it differs
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self._lock = threading.Lock()

    def enter(self, country: str) -> bool:
        with self._lock:
            limit = self.caps.get(country, self.limit)
            if limit is not None and self.in_flight[country] >= limit:
                self.refused[country] += 1
                return False
            self.in_flight[country] += 1
            self.peak[country] = max(self.peak[country], self.in_flight[country])
            return True

    def leave(self, country: str) -> None:
        with self._lock:
            self.in_flight[country] -= 1


class ViesService(SoapService):
    WSDL_FILE = WSDL_FILE
    PATH = "/taxation_customs/vies/services/checkVatService"

    STATUS_PATH = "/taxation_customs/vies/rest-api/check-status"

    def __init__(self, records: dict[str, dict[str, Any]],
                 max_concurrent_per_country: int | None = None, latency: float = 0.0, *,
                 caps: dict[str, int] | None = None, max_concurrent_total: int | None = None):
        super().__init__()
        self.records = records  # keyed by full VAT ID, "CZ25596641"; tests may edit it live
        self.checked: list[str] = []  # VAT IDs asked for, in order (to count retries)
        self.gauge = CountryGauge(max_concurrent_per_country, caps)
        self.total = CountryGauge(max_concurrent_total)  # one "country": all requests
        self.down: set[str] = set()  # member states check-status reports unavailable
        self.vow_available = True
        self.status_answer: Response | None = None  # what check-status answers instead
        self.status_requests = 0
        self.latency = latency  # seconds each answer takes, so that requests overlap
        self.wsdl_answer: Response | None = None  # what GET ?wsdl answers instead of the WSDL

    def handle(self, request: Request, mode: str | None) -> Response:
        kind, _, arg = (mode or "").partition(":")
        if kind == "html_page":  # a gateway's error page, or a wrong URL's, as servers send them
            return Response(int(arg or 200), HTML_ERROR_PAGE, "text/html; charset=utf-8")
        if self.wsdl_answer is not None and request.method == "GET" and "wsdl" in request.query:
            return self.wsdl_answer
        return super().handle(request, mode)

    def answer(self, body: bytes) -> Response:
        try:
            operation = soap_body_child(parse_xml(body))
        except XmlRejected:
            return fault("env:Server", "INVALID_INPUT")
        name = etree.QName(operation)
        if name.namespace != TYPES or name.localname not in ("checkVat", "checkVatApprox"):
            return fault("env:Client", f"operation not offered by the sandbox: {operation.tag}")
        fields = {etree.QName(c).localname: (c.text or "").strip() for c in operation}
        country, number = fields.get("countryCode", ""), fields.get("vatNumber", "")
        self.checked.append(country + number)
        if country not in MEMBER_STATES or not _NUMBER.fullmatch(number):
            return fault("env:Server", "INVALID_INPUT")
        if country in self.down:
            return fault("env:Server", "MS_UNAVAILABLE")
        if not self.total.enter("*"):
            return fault("env:Server", "GLOBAL_MAX_CONCURRENT_REQ")
        try:
            if not self.gauge.enter(country):
                return fault("env:Server", OVERLOAD)
            try:
                time.sleep(self.latency)
                return self._answer(name.localname == "checkVatApprox", fields)
            finally:
                self.gauge.leave(country)
        finally:
            self.total.leave("*")

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """check-status is answered apart: the ``fail_next`` queue and ``requests_served`` are
        the checks' (a test that queues a fault for the next check gets it there)."""
        if environ.get("PATH_INFO") != self.STATUS_PATH or environ["REQUEST_METHOD"] != "GET":
            return super()._wsgi(environ, start_response)
        self.status_requests += 1
        answer = self.status_answer or Response(200, json.dumps(self.status()).encode(),
                                                "application/json")
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}",
                       [("Content-Type", answer.content_type),
                        ("Content-Length", str(len(answer.body)))])
        return [answer.body]

    def status(self) -> dict[str, Any]:
        """``StatusInformationResponse``, as check-status answers it."""
        return {"vow": {"available": self.vow_available},
                "countries": [{"countryCode": c,
                               "availability": "Unavailable" if c in self.down else "Available"}
                              for c in sorted(MEMBER_STATES)]}

    def _record(self, country: str, number: str) -> dict[str, Any] | None:
        return self.records.get(country + number.upper()) or TEST_NUMBERS.get(number)

    def _answer(self, approx: bool, fields: dict[str, str]) -> Response:
        country, number = fields["countryCode"], fields["vatNumber"]
        record = self._record(country, number) or {}
        if record.get("slow"):
            time.sleep(float(record["slow"]))
        if record.get("fault"):
            return fault("env:Server", str(record["fault"]))
        if not approx:
            return Response(200, envelope(_check_vat_response(country, number, record)))
        requester = fields.get("requesterCountryCode", "") + fields.get("requesterVatNumber", "")
        if requester and not (self._record(requester[:2], requester[2:]) or {}).get("valid"):
            return fault("env:Server", "INVALID_REQUESTER_INFO")
        return Response(200, envelope(_approx_response(country, number, record, bool(requester))))


def _check_vat_response(country: str, number: str, record: dict[str, Any]) -> etree._Element:
    valid = bool(record.get("valid"))
    return NS2.checkVatResponse(
        NS2.countryCode(country),
        NS2.vatNumber(number if valid else ""),
        NS2.requestDate(_request_date()),
        NS2.valid("true" if valid else "false"),
        NS2.name((record.get("name") if valid else None) or UNDISCLOSED),
        NS2.address((record.get("address") if valid else None) or UNDISCLOSED),
    )


def _approx_response(country: str, number: str, record: dict[str, Any],
                     with_requester: bool) -> etree._Element:
    """VIES gives a consultation number only to a request that names its requester."""
    valid = bool(record.get("valid"))
    identifier = f"WAPI{uuid.uuid4().hex[:12].upper()}" if with_requester else ""
    return NS2.checkVatApproxResponse(
        NS2.countryCode(country),
        NS2.vatNumber(number if valid else ""),
        NS2.requestDate(_request_date()),
        NS2.valid("true" if valid else "false"),
        NS2.traderName((record.get("name") if valid else None) or UNDISCLOSED),
        NS2.traderAddress((record.get("address") if valid else None) or UNDISCLOSED),
        NS2.requestIdentifier(identifier),
    )
