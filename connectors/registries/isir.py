"""Czech insolvency register ISIR (IsirWsCuzkService, SOAP via zeep): is a company in insolvency?

``lookup(ico)`` calls ``getIsirWsCuzkData`` with the IČO and answers an ``IsirResult``:
- ``insolvent``: at least one proceeding against this IČO that has not ended;
- ``clear``: ISIR knows no proceeding (``kodChyby`` WS2, ``error_code`` says so), or every one
  has ended (the proceedings are listed: a positive answer);
- ``unknown``: ISIR could not answer (WS4 stale data, SQL1, SERVER1, or a code we do not know)
  even after the bounded retries. Never "clear": silence from a broken register proves nothing.
- ``BadRecordError`` for an IČO that is not 8 digits (refused without a call) or WS1.

The packaged WSDL imports its XSD over https. zeep is never allowed to fetch it: the transport is
given the WSDL with that import pointed at the packaged XSD, in memory (the files stay byte-exact
copies of the authority's). The XSD dates from 2019; the live service has added elements since, so
an ``xsd:any`` is appended to the response types, in memory, and zeep stays strict for the rest.

Airflow connection: host (isir.justice.cz), port (8443), schema "http"/"https" (default https),
``extra.endpoint``, ``extra.verify``, ``extra.proxy``. No credentials.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from lxml import etree
from zeep.helpers import serialize_object
from zeep.proxy import ServiceProxy

from connectors.classify import Answered, Rule, Rules, classify
from connectors.errors import Action, ConnectorError, Kind, TransientError
from connectors.registries.ares import pad_ico
from connectors.registries.inflight import within
from connectors.registries.pacing import Pace, pace
from connectors.soap import (
    INVALID_INPUT,
    UNKNOWN,
    HttpSettings,
    call,
    endpoint_url,
    http_session,
    load_contract,
    rules,
    zeep_client,
)
from core.connections import ConnectionInfo

WSDL = (Path(__file__).parent / "wsdl" / "IsirWsCuzkService.wsdl").resolve()
XSD = (Path(__file__).parent / "wsdl" / "IsirWsCuzkService.xsd").resolve()
REMOTE_XSD = "https://isir.justice.cz:8443/isir_cuzk_ws/IsirWsCuzkService?xsd=1"
_BINDING = "{http://isirws.cca.cz/}IsirWsCuzkPortTypeBinding"
_XS = "http://www.w3.org/2001/XMLSchema"
_OPEN_TYPES = ("isirWsCuzkData", "isirWsCuzkStatus")

Status = Literal["insolvent", "clear", "unknown"]
NOT_FOUND = "WS2"
INPUT_ERROR = "WS1"
# druhStavKonkursu of a proceeding that is over (diacritics and punctuation removed): dealt with,
# final, struck off, recorded in error, annulled by the high court, bankruptcy cancelled.
ENDED = frozenset({"VYRIZENA", "PRAVOMOCNA", "ODSKRTNUTA", "MYLNYZAP", "ZRUSENOVS", "KPOZRUS"})
# ISIR answers its errors in the body (stav.kodChyby), not as faults; each code is a row of the
# table like any fault, and says what a registry check records. The shared rows follow.
UNAVAILABLE = Rule(Action.RETRY, Kind.TRANSIENT, "ISIR status {code}", exception=Answered,
                   outcome=UNKNOWN)  # WS4 stale data, SQL1, SERVER1, or a code we do not know
RULES: Rules = rules((
    Rule(Action.QUARANTINE, Kind.DATA, "ISIR refused the IČO: {code} {text}", exception=Answered,
         fault=INPUT_ERROR, outcome=INVALID_INPUT),
    UNAVAILABLE,
))


class Settings(HttpSettings):
    wsdl_path: Path | None = None  # default: the packaged WSDL (its XSD must sit next to it)
    endpoint: str = "/isir_cuzk_ws/IsirWsCuzkService"


@dataclass(frozen=True)
class IsirResult:
    status: Status
    ico: str
    proceedings: list[dict[str, Any]] = field(default_factory=list)  # ISIR rows, JSON-ready
    error_code: str | None = None  # kodChyby when ISIR reported one
    synced_at: str | None = None  # casSynchronizace: how fresh ISIR's own data is


def local_documents(wsdl: Path = WSDL, xsd: Path = XSD) -> dict[str, bytes]:
    """The WSDL with its https import pointed at the packaged XSD, and that XSD made open.

    Both are keyed by file URI: zeep then resolves the import against a file base, and its
    ``force_https`` rule (which rewrites a scheme that differs from the base's) leaves it alone."""
    xsd_uri = xsd.as_uri()
    return {wsdl.as_uri(): wsdl.read_bytes().replace(REMOTE_XSD.encode(), xsd_uri.encode()),
            xsd_uri: open_schema(xsd.read_bytes())}


def open_schema(xsd: bytes) -> bytes:
    """Append ``xsd:any`` to the response types, so that elements ISIR adds are skipped."""
    root = etree.fromstring(xsd, etree.XMLParser(resolve_entities=False, no_network=True))
    for name in _OPEN_TYPES:
        for sequence in root.iterfind(f"{{{_XS}}}complexType[@name='{name}']/{{{_XS}}}sequence"):
            etree.SubElement(sequence, f"{{{_XS}}}any", minOccurs="0", maxOccurs="unbounded",
                             processContents="skip")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def ended(state: str | None) -> bool:
    plain = unicodedata.normalize("NFKD", state or "").encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Z]", "", plain.upper()) in ENDED


class IsirConnector:
    Settings = Settings

    def __init__(self, settings: Settings, conn: ConnectionInfo, system: str = "isir",
                 **_extras: Any):
        self.system = system
        self.settings = settings
        self.address = endpoint_url(conn, settings.endpoint)
        self._conn = conn

    def load_contract(self) -> None:
        """Load the WSDL now: one that does not load is one ``ContractError``, before any IČO."""
        _ = self._service

    @cached_property
    def _service(self) -> ServiceProxy:
        wsdl = (self.settings.wsdl_path or WSDL).resolve()

        def build() -> ServiceProxy:
            documents = local_documents(wsdl, wsdl.with_suffix(".xsd"))
            client = zeep_client(wsdl.as_uri(), http_session(self._conn), self.settings,
                                 documents=documents)
            return client.create_service(_BINDING, self.address)

        return load_contract(build, system=self.system, where=str(wsdl), table=RULES,
                             settings=self.settings)

    def lookup(self, ico: str, until: float | None = None, pacer: Pace | None = None
               ) -> IsirResult:
        """Proceedings by IČO; ``until`` (a ``time.monotonic()`` deadline) ends the retries;
        ``pacer`` takes a token of the registry's rate for each request, retries included."""
        padded = pad_ico(ico)
        if not re.fullmatch(r"[0-9]{8}", padded):  # refused without a call, as ISIR would
            raise classify(Answered(INPUT_ERROR, f"{ico!r} is not 8 digits"), RULES,
                           system=self.system)
        try:
            reply = call(lambda: self._ask(padded, until, pacer), system=self.system, table=RULES,
                         settings=within(self.settings, until))
        except TransientError as exc:
            if exc.rule is not UNAVAILABLE:
                raise  # transport trouble: the hub cannot reach ISIR at all
            return IsirResult("unknown", padded, error_code=exc.detail)
        return _result(padded, reply)

    def _ask(self, ico: str, until: float | None = None, pacer: Pace | None = None
             ) -> dict[str, Any]:
        pace(pacer, until)
        reply = serialize_object(self._service.getIsirWsCuzkData(ic=ico), dict)
        stav = reply.get("stav") or {}
        code = stav.get("kodChyby")
        if code not in (None, NOT_FOUND):  # classified by RULES in ``call``
            raise Answered(code, str(stav.get("textChyby") or ""))
        return reply

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.lookup("00006947")  # Ministerstvo financí: any answer proves ISIR is there
        except ConnectorError as exc:
            return False, str(exc)
        return True, f"ISIR answered at {self.address}"


def _result(ico: str, reply: dict[str, Any]) -> IsirResult:
    stav = reply.get("stav") or {}
    synced = stav.get("casSynchronizace")
    rows = [_jsonable(row) for row in reply.get("data") or [] if row is not None]
    rows = [row for row in rows if pad_ico(str(row.get("ic") or ico)) == ico]
    status: Status = "insolvent" if any(not ended(r.get("druhStavKonkursu")) for r in rows) \
        else "clear"
    return IsirResult(status, ico, proceedings=rows, error_code=stav.get("kodChyby"),
                      synced_at=synced.isoformat() if synced else None)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A proceeding as plain JSON: dates as ISO text, zeep's skipped extras left out."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()
            if k != "_raw_elements" and not isinstance(v, list)}
