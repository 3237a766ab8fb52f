"""The sandbox VIES: the real checkVatService WSDL, answering checkVat like VIES has since 2022.

Responses copy the shape of /work/shared/external/vies/samples: ``env:``/``ns2:`` prefixes, a
``requestDate`` with the Brussels offset, an empty ``vatNumber`` and ``---`` name and address for
an invalid number, ``---`` for a valid number whose state does not disclose them. Faults are
``env:Server`` with the VIES code as faultstring (edited from soapFault-INVALID_INPUT.xml).

    vies = ViesService({"CZ25596641": {"valid": True, "name": "ACME s.r.o.", "address": "..."}})
    vies.start()   # http://127.0.0.1:<port>/taxation_customs/vies/services/checkVatService

Misbehaviour: a record ``{"fault": "MS_UNAVAILABLE"}`` always faults for that number;
``fail_next("fault:TIMEOUT", "doctype", "http503")`` affects the next requests only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml.builder import ElementMaker

from sandbox.soap_server import (
    Request,
    Response,
    SandboxService,
    XmlRejected,
    envelope,
    fault,
    parse_xml,
    rewrite_soap_address,
    soap_body_child,
    with_doctype,
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


def _request_date() -> str:
    try:
        now = datetime.now(ZoneInfo("Europe/Brussels"))
    except ZoneInfoNotFoundError:  # no tz database on this host: UTC is still a valid xsd:date
        return datetime.now(UTC).strftime("%Y-%m-%dZ")
    offset = now.strftime("%z")
    return f"{now:%Y-%m-%d}{offset[:3]}:{offset[3:]}"


class ViesService(SandboxService):
    PATH = "/taxation_customs/vies/services/checkVatService"

    def __init__(self, records: dict[str, dict[str, Any]]):
        super().__init__()
        self.records = records  # keyed by full VAT ID, "CZ25596641"; tests may edit it live
        self.checked: list[str] = []  # VAT IDs asked for, in order (to count retries)

    @property
    def url(self) -> str:
        return super().url + self.PATH

    def handle(self, request: Request, mode: str | None) -> Response:
        if request.path != self.PATH:
            return Response(404, b"not found", "text/plain")
        if request.method == "GET" and "wsdl" in request.query:
            return Response(200, rewrite_soap_address(WSDL_FILE.read_bytes(), self.url))
        if request.method != "POST":
            return Response(405, b"POST a SOAP envelope", "text/plain")
        if mode and mode.startswith("fault:"):
            return fault("env:Server", mode.split(":", 1)[1])
        response = self._soap(request.body)
        if mode == "doctype":
            response.body = with_doctype(response.body)
        return response

    def _soap(self, body: bytes) -> Response:
        try:
            operation = soap_body_child(parse_xml(body))
        except XmlRejected:
            return fault("env:Server", "INVALID_INPUT")
        if operation.tag != f"{{{TYPES}}}checkVat":
            return fault("env:Client", f"operation not offered by the sandbox: {operation.tag}")
        country = (operation.findtext(f"{{{TYPES}}}countryCode") or "").strip()
        number = (operation.findtext(f"{{{TYPES}}}vatNumber") or "").strip()
        self.checked.append(country + number)
        if country not in MEMBER_STATES or not _NUMBER.fullmatch(number):
            return fault("env:Server", "INVALID_INPUT")
        return self._answer(country, number, self.records.get(country + number.upper()))

    def _answer(self, country: str, number: str, record: dict[str, Any] | None) -> Response:
        if record and record.get("fault"):
            return fault("env:Server", str(record["fault"]))
        valid = bool(record and record.get("valid"))
        name = (record or {}).get("name") if valid else None
        address = (record or {}).get("address") if valid else None
        reply = NS2.checkVatResponse(
            NS2.countryCode(country),
            NS2.vatNumber(number if valid else ""),
            NS2.requestDate(_request_date()),
            NS2.valid("true" if valid else "false"),
            NS2.name(name or UNDISCLOSED),
            NS2.address(address or UNDISCLOSED),
        )
        return Response(200, envelope(reply))
