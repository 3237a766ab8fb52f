"""EU VIES VAT number check over SOAP (zeep), with the real published WSDL packaged here.

Outcomes of ``check_vat``:
- ``valid`` / ``invalid``: VIES answered. Name and address ``---`` mean "not disclosed" -> None.
- ``unknown``: VIES or the member state could not answer (MS_UNAVAILABLE, TIMEOUT,
  SERVICE_UNAVAILABLE, *_MAX_CONCURRENT_REQ...) even after the bounded retries. Never "invalid":
  a busy registry says nothing about the number. ``fault`` holds the code.
- ``BadRecordError`` (action quarantine) for INVALID_INPUT or input that cannot be a VAT number:
  the number itself is malformed, which is a fact about the record, not a registry answer. Input
  that cannot pass VIES's own checks is refused here, without a call, by the same table row.
- ``RemoteRefusedError`` for VAT_BLOCKED and IP_BLOCKED (action refuse: the check records
  ``refused``) and for a fault VIES does not document (the check records ``unknown``).
Every fault is classified by ``RULES``; each row also names what a registry check records.
Transport failures (refused connection, HTTP errors, an HTML page instead of XML) after retries
propagate as ``TransientError``; they say the hub cannot reach VIES, not anything about a number.
A response with a DTD or entities raises ``SecurityError``.

Contract: the packaged WSDL, another file (``wsdl_path``) or one fetched once from ``wsdl_url``.
``load_contract()`` loads it before any number is asked; one that does not load is a
``ContractError`` (a configuration error), raised once.

Evidence: with ``requester_vat_id`` set, the check is ``checkVatApprox`` naming our own VAT ID, and
VIES returns a consultation number (``request_identifier``) that proves, with ``request_date``,
that the number was verified on that day. Without it, plain ``checkVat``.

Load: ``check_each`` runs a batch on a bounded thread pool and yields each answer as it arrives,
until an optional deadline. At most ``max_concurrent_per_country`` requests (or the state's own
figure in ``max_concurrent_by_country``) are in flight per member state, and ``max_workers`` in
all, counting a request given up at its timeout until it really ends. VIES answers
MS_MAX_CONCURRENT_REQ above a state's limit (GLOBAL_MAX_CONCURRENT_REQ above its own): retried
with backoff, and if it still says so, the check is ``unknown`` with ``busy`` set: VIES did not
look at the number, so a caller asks it again later rather than keep it as an answer.
A ``Pace`` (connectors.registries.pacing) takes one token per request, retries included.

Availability: ``unavailable_member_states()`` reads VIES's REST ``check-status`` (the same host,
``status_endpoint``): the member states it reports "Unavailable" (all of them when VIES itself is
not available), so that a caller can leave their numbers for later instead of asking in vain.

Airflow connection: host (ec.europa.eu), port, schema "http"/"https" (default https),
``extra.endpoint`` (overrides ``Settings.endpoint``), ``extra.verify``,
``extra.proxy``, ``extra.requester_vat_id`` (our own VAT ID where ``Settings`` names none: it
belongs to the environment, like the host, so that a shared hub.yaml need not carry it).
No credentials.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as WaitTimeout
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from zeep.exceptions import Fault
from zeep.helpers import serialize_object
from zeep.proxy import ServiceProxy

from connectors.classify import Answered, Rule, Rules, classify
from connectors.errors import Action, ConnectorConfigError, ConnectorError, Kind, TransientError
from connectors.registries.inflight import CappedCalls, DeadlinePassed, remaining, within
from connectors.registries.pacing import Pace, pace
from connectors.soap import (
    INVALID_INPUT,
    UNKNOWN,
    HttpSettings,
    call,
    endpoint_url,
    fetch_document,
    http_session,
    load_contract,
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
REFUSED = "refused"
# VIES did not look at the number: too many requests in flight, at a member state or in all.
BUSY = frozenset({"MS_MAX_CONCURRENT_REQ", "MS_MAX_CONCURRENT_REQ_TIME",
                  "GLOBAL_MAX_CONCURRENT_REQ", "GLOBAL_MAX_CONCURRENT_REQ_TIME"})

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
    # this number may not be checked, or not from our address: the check is refused, with the
    # fault as its evidence, and the others go on (a blocked address refuses each of them)
    Rule(Action.REFUSE, Kind.REFUSED, "VIES fault {code}", exception=Fault,
         fault={"VAT_BLOCKED", "IP_BLOCKED"}, outcome=REFUSED),
    UNAVAILABLE,
    # VIES sends every fault as env:Server, so the shared Server row would retry anything; a
    # faultstring not listed above is none of its documented codes: not retried, named, and the
    # number stays unknown (asked again by the next run)
    Rule(Action.FAIL, Kind.REFUSED, "unknown VIES fault: {text}", exception=Fault,
         outcome=UNKNOWN),
))


class Settings(HttpSettings):
    wsdl_path: Path | None = None  # default: the packaged real WSDL
    wsdl_url: str | None = Field(None, pattern=r"^https?://")  # or fetched from here, once
    endpoint: str = "/taxation_customs/vies/services/checkVatService"
    requester_vat_id: str | None = None  # our own VAT ID: checkVatApprox, consultation numbers
    max_concurrent_per_country: int = Field(2, ge=1, le=20)
    # A member state's own limit where it differs, e.g. {"DE": 1}.
    max_concurrent_by_country: dict[str, int] = {}
    max_workers: int = Field(8, ge=1, le=64)  # requests in flight in all, given up ones included
    status_endpoint: str = "/taxation_customs/vies/rest-api/check-status"
    # A request not answered within operation_timeout is given up and retried, but it keeps its
    # member state's slot until VIES answers it or this many seconds have passed.
    abandon_after: float = Field(120.0, gt=0)

    @model_validator(mode="after")
    def _one_wsdl(self) -> Settings:
        if self.wsdl_path is not None and self.wsdl_url is not None:
            raise ValueError("give wsdl_path or wsdl_url, not both")
        return self

    @field_validator("max_concurrent_by_country")
    @classmethod
    def _caps_are_member_states(cls, caps: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(caps) - MEMBER_STATES)
        if unknown:
            raise ValueError(f"not VIES member state codes: {unknown}")
        if any(not 1 <= cap <= 20 for cap in caps.values()):
            raise ValueError("each cap must be between 1 and 20")
        return caps

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

    @property
    def busy(self) -> bool:
        """VIES refused to look at the number for load: no answer about it."""
        return self.fault in BUSY


def normalise(country_code: str, number: str) -> tuple[str, str]:
    """Strip separators, upper-case, drop a repeated country prefix, Greece is EL in VIES."""
    country = country_code.strip().upper()
    country = "EL" if country == "GR" else country
    compact = re.sub(r"[\s.\-/]", "", number).upper()
    for prefix in (country, "GR") if country == "EL" else (country,):
        if compact.startswith(prefix) and len(compact) > len(prefix) + 1:
            return country, compact[len(prefix):]
    return country, compact


def _with_requester(settings: Settings, conn: ConnectionInfo, system: str) -> Settings:
    """hub.yaml's ``requester_vat_id`` first, else the connection's ``extra.requester_vat_id``."""
    requester = conn.extra.get("requester_vat_id")
    if settings.requester_vat_id or not requester:
        return settings
    try:
        return Settings.model_validate(settings.model_dump() | {"requester_vat_id": str(requester)})
    except ValidationError:
        raise ConnectorConfigError(
            f"Airflow connection {conn.conn_id!r}: extra.requester_vat_id must be a VAT ID with "
            "its country prefix", system=system) from None


class ViesConnector:
    Settings = Settings

    def __init__(self, settings: Settings, conn: ConnectionInfo, system: str = "vies",
                 **_extras: Any):
        self.system = system
        self.settings = settings = _with_requester(settings, conn, system)
        self.address = endpoint_url(conn, settings.endpoint)
        self._conn = conn
        self._wsdl: tuple[str, dict[str, bytes] | None] | None = None
        self._wsdl_lock = threading.Lock()
        # One zeep service per request in flight, each request counted against its member
        # state's cap until it really ends (connectors.registries.inflight).
        self._calls = CappedCalls(self._cap, self._new_service, wait=settings.operation_timeout,
                                  total=settings.max_workers)

    def _cap(self, country: str) -> int:
        return self.settings.max_concurrent_by_country.get(
            country, self.settings.max_concurrent_per_country)

    def load_contract(self) -> None:
        """Load the WSDL and build the first client now: a contract that does not load (a file
        missing, a URL answering HTML) is one ``ContractError`` before any number is asked."""
        self._calls.warm()

    def check_vat(self, country_code: str, number: str, until: float | None = None,
                  pacer: Pace | None = None) -> VatCheck:
        """One number; ``until`` (a ``time.monotonic()`` deadline) bounds waits and retries."""
        country, vat = self._valid_input(country_code, number)
        settings = within(self.settings, until)

        def send() -> Any:
            pace(pacer, until)
            return self._calls.run(country, lambda s: self._ask(s, country, vat), until)

        try:
            reply = call(send, system=self.system, table=RULES, settings=settings)
        except TransientError as exc:
            if exc.rule is not UNAVAILABLE:
                raise  # transport trouble: the hub cannot reach VIES at all
            return VatCheck("unknown", country, vat, fault=exc.detail, operation=self._operation)
        return _result(country, vat, serialize_object(reply, dict), self._operation)

    def check_many(self, vat_ids: Iterable[str]) -> dict[str, VatCheck | ConnectorError]:
        """Check full VAT IDs ("CZ25596641"); each ID maps to its check, or to its error."""
        return dict(self.check_each(vat_ids))

    def check_each(self, vat_ids: Iterable[str], until: float | None = None,
                   pacer: Pace | None = None
                   ) -> Iterator[tuple[str, VatCheck | ConnectorError]]:
        """Check full VAT IDs concurrently, yielding each as it is answered (so that it can be
        stored at once). At ``until`` it stops: IDs not answered by then are not yielded."""
        ids = list(dict.fromkeys(vat_ids))
        pool = ThreadPoolExecutor(self.settings.max_workers, thread_name_prefix="vies")
        try:
            futures = {pool.submit(self._checked, vat_id, until, pacer): vat_id
                       for vat_id in ids}
            for future in as_completed(futures, timeout=remaining(until)):
                if (result := future.result()) is not None:
                    yield futures[future], result
        except WaitTimeout:
            return  # the deadline: what is left stays unasked
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def unavailable_member_states(self, until: float | None = None,
                                  pacer: Pace | None = None) -> frozenset[str]:
        """The member states VIES's check-status reports "Unavailable" now (every one when
        VIES itself is not available); a failure to read it is raised, classified."""
        # on the SOAP service's host: ``extra.endpoint`` moves the SOAP path only
        url = urlunsplit(urlsplit(self.address)._replace(path=self.settings.status_endpoint,
                                                         query="", fragment=""))

        def ask() -> Any:
            pace(pacer, until)
            response = http_session(self._conn).get(url, timeout=self.settings.request_timeout())
            response.raise_for_status()  # classified by the table's HTTP rows
            try:
                return response.json()
            except ValueError:
                raise Answered(None, "check-status answered no JSON", status=200) from None

        status = call(ask, system=self.system, table=RULES, settings=within(self.settings, until))
        return _unavailable(status if isinstance(status, dict) else {})

    def _checked(self, vat_id: str, until: float | None, pacer: Pace | None = None
                 ) -> VatCheck | ConnectorError | None:
        if until is not None and time.monotonic() >= until:
            return None  # not asked: the step's deadline has passed
        try:
            return self.check_vat(vat_id[:2], vat_id[2:], until, pacer)
        except DeadlinePassed:
            return None  # asked, but not answered before the deadline
        except ConnectorError as exc:
            return exc

    def _new_service(self) -> ServiceProxy:
        where, documents = self._contract()
        session = http_session(self._conn)
        # The HTTP read timeout is the hard one: a request given up after operation_timeout
        # stays open (and counted) until VIES answers or this long has passed.
        hard = self.settings.model_copy(update={"operation_timeout": self.settings.abandon_after})

        def build() -> ServiceProxy:
            client = zeep_client(where, session, hard, documents=documents)
            return client.create_service(_BINDING, self.address)

        return load_contract(build, system=self.system, where=where, table=RULES,
                             settings=self.settings)

    def _contract(self) -> tuple[str, dict[str, bytes] | None]:
        """Where the WSDL is, and its bytes when it was fetched (once per connector)."""
        with self._wsdl_lock:
            if self._wsdl is None:
                self._wsdl = self._locate_wsdl()
            return self._wsdl

    def _locate_wsdl(self) -> tuple[str, dict[str, bytes] | None]:
        url = self.settings.wsdl_url
        if url is None:
            return str(self.settings.wsdl_path or WSDL), None
        session = http_session(self._conn)
        wsdl = load_contract(lambda: fetch_document(session, url, self.settings),
                             system=self.system, where=url, table=RULES,
                             settings=self.settings)
        return url, {url: wsdl}

    @property
    def _operation(self) -> str:
        return "checkVatApprox" if self.settings.requester_vat_id else "checkVat"

    def _valid_input(self, country_code: str, number: str) -> tuple[str, str]:
        country, vat = normalise(country_code, number)
        if country not in MEMBER_STATES or not _NUMBER.fullmatch(vat):
            refused = Answered("INVALID_INPUT", f"{country_code!r} {number!r}")
            raise classify(refused, RULES, system=self.system) from None
        return country, vat

    def _ask(self, service: ServiceProxy, country: str, vat: str) -> Any:
        requester = self.settings.requester_vat_id
        if requester is None:
            return service.checkVat(countryCode=country, vatNumber=vat)
        return service.checkVatApprox(countryCode=country, vatNumber=vat,
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


def _unavailable(status: dict[str, Any]) -> frozenset[str]:
    """StatusInformationResponse -> the member states not to ask now."""
    if (status.get("vow") or {}).get("available") is False:
        return MEMBER_STATES
    return frozenset(c.get("countryCode") for c in status.get("countries") or []
                     if isinstance(c, dict) and c.get("availability") == "Unavailable")


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
