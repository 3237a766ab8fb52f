"""EU VIES VAT number check over SOAP (zeep), with the real published WSDL packaged here.

Outcomes of ``check_vat``:
- ``valid`` / ``invalid``: VIES answered. Name and address ``---`` mean "not disclosed" -> None.
- ``unknown``: VIES or the member state could not answer (MS_UNAVAILABLE, TIMEOUT,
  SERVICE_UNAVAILABLE, *_MAX_CONCURRENT_REQ...) even after the bounded retries. Never "invalid":
  a busy registry says nothing about the number. ``fault`` holds the code.
- ``BadRecordError`` (action quarantine) for INVALID_INPUT or input that cannot be a VAT number:
  the number itself is malformed, which is a fact about the record, not a registry answer. Input
  that cannot pass VIES's own checks is refused here, without a call, by the same table row.
- ``RemoteRefusedError`` for VAT_BLOCKED (action refuse: this number only) and IP_BLOCKED (fail).
Every fault is classified by ``RULES``; each row also names what a registry check records.
Transport failures (refused connection, HTTP errors) after retries propagate as
``TransientError``; they say the hub cannot reach VIES, not anything about a number. A response
with a DTD or entities raises ``SecurityError``.

Evidence: with ``requester_vat_id`` set, the check is ``checkVatApprox`` naming our own VAT ID, and
VIES returns a consultation number (``request_identifier``) that proves, with ``request_date``,
that the number was verified on that day. Without it, plain ``checkVat``.

Load: ``check_many`` runs a batch on a bounded thread pool with at most
``max_concurrent_per_country`` requests in flight per member state (VIES answers
MS_MAX_CONCURRENT_REQ above the state's own limit; that fault is retried with backoff).

Airflow connection: host (ec.europa.eu), port, schema "http"/"https" (default https),
``extra.endpoint`` (overrides ``Settings.endpoint``), ``extra.verify``,
``extra.proxy``. No credentials.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import zeep
from pydantic import Field, field_validator
from zeep.exceptions import Fault
from zeep.helpers import serialize_object
from zeep.proxy import ServiceProxy

from connectors.classify import Answered, Rule, Rules, classify
from connectors.errors import Action, ConnectorConfigError, ConnectorError, Kind, TransientError
from connectors.soap import (
    INVALID_INPUT,
    UNKNOWN,
    HttpSettings,
    call,
    endpoint_url,
    http_session,
    rules,
    zeep_client,
)
from core.connections import ConnectionInfo

WSDL = Path(__file__).parent / "wsdl" / "checkVatService.wsdl"
_BINDING = "{urn:ec.europa.eu:taxud:vies:services:checkVat}checkVatBinding"
_UNDISCLOSED = "---"
_NUMBER = re.compile(r"[0-9A-Z+*]{2,12}")  # VIES's own input pattern, before per-country checks
MEMBER_STATES = frozenset({"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR",
                           "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO",
                           "SE", "SI", "SK", "XI"})

Status = Literal["valid", "invalid", "unknown"]

# VIES reports its fault codes as the faultstring (faultcode is always env:Server). Each row also
# says what a registry check records (``outcome``); the shared HTTP and SOAP rows follow.
UNAVAILABLE = Rule(Action.RETRY, Kind.TRANSIENT, "VIES fault {code}", exception=Fault,
                   fault={"MS_UNAVAILABLE", "TIMEOUT", "SERVICE_UNAVAILABLE", "SERVER_BUSY",
                          "GLOBAL_MAX_CONCURRENT_REQ", "GLOBAL_MAX_CONCURRENT_REQ_TIME",
                          "MS_MAX_CONCURRENT_REQ", "MS_MAX_CONCURRENT_REQ_TIME"},
                   outcome=UNKNOWN)  # a busy registry says nothing about the number
RULES: Rules = rules((
    # the number is malformed: a fact about the record (also refused here, before a call)
    Rule(Action.QUARANTINE, Kind.DATA, "VIES {code}: the VAT number is malformed",
         exception=(Fault, Answered), fault="INVALID_INPUT", outcome=INVALID_INPUT),
    Rule(Action.FAIL, Kind.CONFIG, "VIES fault {code}: our requester VAT ID is refused",
         exception=Fault, fault="INVALID_REQUESTER_INFO"),
    # this number may not be checked: record the refusal, go on with the others
    Rule(Action.REFUSE, Kind.REFUSED, "VIES fault {code}", exception=Fault, fault="VAT_BLOCKED",
         outcome="refused"),
    # our address is blocked: every check would fail, so the step stops
    Rule(Action.FAIL, Kind.REFUSED, "VIES fault {code}", exception=Fault, fault="IP_BLOCKED"),
    UNAVAILABLE,
    # VIES sends every fault as env:Server, so the shared Server row would retry anything; a
    # faultstring not listed above is none of its documented codes: refused, named
    Rule(Action.FAIL, Kind.REFUSED, "unknown VIES fault: {text}", exception=Fault),
))


class Settings(HttpSettings):
    wsdl_path: Path | None = None  # default: the packaged real WSDL
    endpoint: str = "/taxation_customs/vies/services/checkVatService"
    requester_vat_id: str | None = None  # our own VAT ID: checkVatApprox, consultation numbers
    max_concurrent_per_country: int = Field(2, ge=1, le=20)
    max_workers: int = Field(8, ge=1, le=64)

    @field_validator("requester_vat_id")
    @classmethod
    def _requester_is_a_vat_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        country, number = normalise(value[:2], value[2:])
        if country not in MEMBER_STATES or not _NUMBER.fullmatch(number):
            raise ValueError("requester_vat_id must be a VAT ID with its country prefix")
        return country + number


@dataclass(frozen=True)
class VatCheck:
    status: Status
    country_code: str
    vat_number: str
    request_date: date | None = None
    name: str | None = None
    address: str | None = None
    request_identifier: str | None = None  # the consultation number (checkVatApprox only)
    fault: str | None = None
    operation: str = "checkVat"
    raw: dict[str, Any] = field(default_factory=dict)  # the response, JSON-serialisable


def normalise(country_code: str, number: str) -> tuple[str, str]:
    """Strip separators, upper-case, drop a repeated country prefix, Greece is EL in VIES."""
    country = country_code.strip().upper()
    country = "EL" if country == "GR" else country
    compact = re.sub(r"[\s.\-/]", "", number).upper()
    for prefix in (country, "GR") if country == "EL" else (country,):
        if compact.startswith(prefix) and len(compact) > len(prefix) + 1:
            return country, compact[len(prefix):]
    return country, compact


class ViesConnector:
    Settings = Settings

    def __init__(self, settings: Settings, conn: ConnectionInfo, system: str = "vies",
                 **_extras: Any):
        self.system = system
        self.settings = settings
        self.address = endpoint_url(conn, settings.endpoint)
        self._conn = conn
        self._local = threading.local()  # one zeep client and session per worker thread

    @property
    def _service(self) -> ServiceProxy:
        service = getattr(self._local, "service", None)
        if service is None:
            wsdl = self.settings.wsdl_path or WSDL
            if not wsdl.is_file():
                raise ConnectorConfigError(f"VIES WSDL not found: {wsdl}", system=self.system)
            client: zeep.Client = zeep_client(wsdl, http_session(self._conn), self.settings)
            service = self._local.service = client.create_service(_BINDING, self.address)
        return service

    def check_vat(self, country_code: str, number: str) -> VatCheck:
        country, vat = self._valid_input(country_code, number)
        try:
            reply = call(lambda: self._ask(country, vat), system=self.system, table=RULES,
                         settings=self.settings)
        except TransientError as exc:
            if exc.rule is not UNAVAILABLE:
                raise  # transport trouble: the hub cannot reach VIES at all
            return VatCheck("unknown", country, vat, fault=exc.detail, operation=self._operation)
        return _result(country, vat, serialize_object(reply, dict), self._operation)

    def check_many(self, vat_ids: Iterable[str]) -> dict[str, VatCheck | ConnectorError]:
        """Check full VAT IDs ("CZ25596641") concurrently, never more than the per-country cap
        at once; each ID maps to its check, or to the error that stopped it."""
        ids = sorted(set(vat_ids))
        gates: dict[str, threading.BoundedSemaphore] = {
            c: threading.BoundedSemaphore(self.settings.max_concurrent_per_country)
            for c in {normalise(v[:2], v[2:])[0] for v in ids}}
        with ThreadPoolExecutor(self.settings.max_workers, thread_name_prefix="vies") as pool:
            results = pool.map(lambda v: self._gated_check(v, gates), ids)
            return dict(zip(ids, results, strict=True))

    def _gated_check(self, vat_id: str,
                     gates: dict[str, threading.BoundedSemaphore]) -> VatCheck | ConnectorError:
        with gates[normalise(vat_id[:2], vat_id[2:])[0]]:
            try:
                return self.check_vat(vat_id[:2], vat_id[2:])
            except ConnectorError as exc:
                return exc

    @property
    def _operation(self) -> str:
        return "checkVatApprox" if self.settings.requester_vat_id else "checkVat"

    def _valid_input(self, country_code: str, number: str) -> tuple[str, str]:
        country, vat = normalise(country_code, number)
        if country not in MEMBER_STATES or not _NUMBER.fullmatch(vat):
            refused = Answered("INVALID_INPUT", f"{country_code!r} {number!r}")
            raise classify(refused, RULES, system=self.system) from None
        return country, vat

    def _ask(self, country: str, vat: str) -> Any:
        requester = self.settings.requester_vat_id
        if requester is None:
            return self._service.checkVat(countryCode=country, vatNumber=vat)
        return self._service.checkVatApprox(countryCode=country, vatNumber=vat,
                                            requesterCountryCode=requester[:2],
                                            requesterVatNumber=requester[2:])

    def test_connection(self) -> tuple[bool, str]:
        """VIES has no ping operation: fetch the WSDL the endpoint publishes."""
        try:
            call(self._get_wsdl, system=self.system, table=RULES, settings=self.settings)
        except ConnectorError as exc:
            return False, str(exc)
        return True, f"VIES answered at {self.address}"

    def _get_wsdl(self) -> None:
        response = http_session(self._conn).get(self.address, params="wsdl",
                                                timeout=self.settings.request_timeout())
        response.raise_for_status()  # classified by the table's HTTP rows


def _disclosed(value: str | None) -> str | None:
    value = (value or "").strip()
    return None if value in ("", _UNDISCLOSED) else value


def _result(country: str, vat: str, reply: dict[str, Any], operation: str) -> VatCheck:
    request_date = reply.get("requestDate")
    raw = {**reply, "requestDate": request_date.isoformat() if request_date else None}
    return VatCheck(
        status="valid" if reply.get("valid") else "invalid",
        country_code=reply.get("countryCode") or country,
        vat_number=reply.get("vatNumber") or vat,  # VIES echoes an empty number when invalid
        request_date=request_date,
        name=_disclosed(reply.get("name") or reply.get("traderName")),
        address=_disclosed(reply.get("address") or reply.get("traderAddress")),
        request_identifier=(reply.get("requestIdentifier") or None),
        operation=operation,
        raw=raw,
    )
