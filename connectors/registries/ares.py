"""Czech ARES business register, REST API v3: economic subjects by IČO, one or many.

``lookup(ico)`` answers:
- ``found=True`` with ``payload`` = the raw v3 JSON (``EkonomickySubjekt``), ``status`` 200;
- ``found=False`` for 404 NENALEZENO (no such subject), ``error`` = the ``Chyba`` body;
- ``BadRecordError`` (quarantine) for 400 (CHYBA_VSTUPU): ARES says the IČO is malformed;
- ``TransientError`` for 5xx, 429 and network failures after the bounded retries;
- ``ConnectorConfigError`` for 401/403, ``RemoteRefusedError`` for other answers.
A dissolved company is still ``found``: ``payload["datumZaniku"]`` says when it ended; deciding
what that means belongs to reconciliation/.

``lookup_many(icos)`` asks up to ``bulk_size`` IČOs per request with the bulk search
(``POST /ekonomicke-subjekty/vyhledat``, ``{"ico": [...], "start", "pocet"}``), paged until
``pocetCelkem`` subjects came back, and answers each IČO as ``lookup`` would: its subject, or
``found=False`` when the search did not list it; an IČO that is not 8 digits is refused without a
call (``BadRecordError``, as ARES refuses it); a failure of the request is each IČO's error. ARES
serves at most 1000 subjects a page (the OpenAPI states no maximum: ``pocet`` is free, the
service caps it), hence ``bulk_size`` of at most 1000.

A ``Pace`` (connectors.registries.pacing) given to either takes one token per HTTP request.

Airflow connection: host (ares.gov.cz), port, schema "http"/"https" (default https),
``extra.endpoint`` (overrides ``Settings.base_path``), ``extra.verify``,
``extra.proxy``. No credentials.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote

import requests
from pydantic import Field

from connectors.classify import Answered, Rule, Rules, classify
from connectors.errors import Action, ConnectorError, Kind
from connectors.registries.inflight import DeadlinePassed, within
from connectors.registries.pacing import Pace, pace
from connectors.soap import INVALID_INPUT, HttpSettings, call, endpoint_url, http_session, rules
from core.connections import ConnectionInfo

JsonDict = dict[str, Any]
BAD_INPUT = "CHYBA_VSTUPU"
NOT_LISTED = {"kod": "NENALEZENO", "popis": "ARES's search by IČO did not list this IČO"}
_ICO = re.compile(r"[0-9]{8}")

# ARES answers errors as an HTTP status with a JSON body {kod, popis, subKod}; both are matched
# here, and each row says what a registry check records. The shared HTTP rows follow.
RULES: Rules = rules((
    Rule(Action.QUARANTINE, Kind.DATA, "ARES refused the IČO: {text}", exception=Answered,
         fault=BAD_INPUT, outcome=INVALID_INPUT),
    Rule(Action.QUARANTINE, Kind.DATA, "ARES refused the IČO: {text}", exception=Answered,
         status={400}, outcome=INVALID_INPUT),
    Rule(Action.FAIL, Kind.REFUSED, "ARES answered {status} without a JSON object",
         exception=Answered, status={200}),
))


class Settings(HttpSettings):
    base_path: str = "/ekonomicke-subjekty-v-be/rest"
    # IČOs per bulk search request; ARES answers at most 1000 subjects a page.
    bulk_size: int = Field(1000, ge=1, le=1000)


@dataclass(frozen=True)
class AresResult:
    found: bool
    ico: str
    payload: JsonDict = field(default_factory=dict)  # the subject, as ARES sent it
    status: int = 200  # the HTTP status ARES answered with
    error: JsonDict | None = None  # ARES's Chyba body {kod, popis, subKod} when not found


def pad_ico(ico: str) -> str:
    """IČO as ARES wants it: whitespace removed, digits left-padded to 8 ("1603094" -> "01603094").
    Anything else is sent as given and ARES judges it (400)."""
    compact = "".join(str(ico).split())
    return compact.zfill(8) if compact.isdigit() and len(compact) < 8 else compact


class AresConnector:
    Settings = Settings

    def __init__(self, settings: Settings, conn: ConnectionInfo, system: str = "ares",
                 **_extras: Any):
        self.system = system
        self.settings = settings
        self.base_url = endpoint_url(conn, settings.base_path).rstrip("/")
        self._conn = conn

    @cached_property
    def _session(self) -> requests.Session:
        session = http_session(self._conn)
        session.headers["Accept"] = "application/json"
        return session

    def lookup(self, ico: str, until: float | None = None, pacer: Pace | None = None
               ) -> AresResult:
        """One subject; ``until`` (a ``time.monotonic()`` deadline) ends the retries by then."""
        padded = pad_ico(ico)
        if not padded:  # refused without a call, as ARES would
            raise classify(Answered(BAD_INPUT, "empty IČO"), RULES, system=self.system)
        url = f"{self.base_url}/ekonomicke-subjekty/{quote(padded, safe='')}"
        return call(lambda: self._get(url, padded, until, pacer), system=self.system,
                    table=RULES, settings=within(self.settings, until))

    def lookup_many(self, icos: Iterable[str], until: float | None = None,
                    pacer: Pace | None = None) -> dict[str, AresResult | ConnectorError]:
        """Each IČO (as given) to its answer, asked ``bulk_size`` at a time."""
        answers: dict[str, AresResult | ConnectorError] = {}
        asked: dict[str, list[str]] = {}  # 8-digit IČO -> the IČOs given for it
        for ico in dict.fromkeys(icos):
            padded = pad_ico(ico)
            if _ICO.fullmatch(padded):
                asked.setdefault(padded, []).append(ico)
            else:  # refused without a call, as ARES refuses it (CHYBA_VSTUPU)
                answers[ico] = classify(Answered(BAD_INPUT, f"{ico!r} is not 8 digits"), RULES,
                                        system=self.system)
        padded_icos = list(asked)
        for i in range(0, len(padded_icos), self.settings.bulk_size):
            batch = padded_icos[i:i + self.settings.bulk_size]
            for padded, answer in self._batch(batch, until, pacer).items():
                answers.update(dict.fromkeys(asked[padded], answer))
        return answers

    def _batch(self, icos: list[str], until: float | None, pacer: Pace | None
               ) -> dict[str, AresResult | ConnectorError]:
        try:
            subjects = self._search(icos, until, pacer)
        except ConnectorError as exc:
            if exc.kind is Kind.CONFIG or isinstance(exc, DeadlinePassed):
                raise  # no answer about any IČO: the caller's step ends, or waits no longer
            if exc.kind is Kind.DATA:  # ARES refused the list: ask each, to know which
                return {ico: self._one(ico, until, pacer) for ico in icos}
            return dict.fromkeys(icos, exc)
        return {ico: AresResult(found=True, ico=ico, payload=subjects[ico]) if ico in subjects
                else AresResult(found=False, ico=ico, status=404, error=dict(NOT_LISTED))
                for ico in icos}

    def _one(self, ico: str, until: float | None, pacer: Pace | None
             ) -> AresResult | ConnectorError:
        try:
            return self.lookup(ico, until, pacer)
        except ConnectorError as exc:
            if exc.kind is Kind.CONFIG or isinstance(exc, DeadlinePassed):
                raise
            return exc

    def _search(self, icos: list[str], until: float | None, pacer: Pace | None
                ) -> dict[str, JsonDict]:
        """The subjects ARES lists for ``icos``, page after page, by IČO."""
        url, found, start = f"{self.base_url}/ekonomicke-subjekty/vyhledat", {}, 0
        settings = within(self.settings, until)
        while True:
            body = {"ico": icos, "start": start, "pocet": len(icos)}
            page = call(lambda b=body: self._post(url, b, until, pacer), system=self.system,
                        table=RULES, settings=settings)
            subjects = [s for s in page.get("ekonomickeSubjekty") or [] if isinstance(s, dict)]
            found.update((s.get("ico"), s) for s in subjects)
            start += len(subjects)
            if not subjects or start >= int(page.get("pocetCelkem") or 0):
                return {ico: found[ico] for ico in icos if ico in found}

    def _post(self, url: str, body: JsonDict, until: float | None, pacer: Pace | None
              ) -> JsonDict:
        pace(pacer, until)
        response = self._session.post(url, json=body, timeout=self.settings.request_timeout())
        page = self._json(response)
        if response.status_code == 200:
            return page
        if response.status_code == 404 and page.get("kod") == "NENALEZENO":
            return {"pocetCelkem": 0, "ekonomickeSubjekty": []}  # none of them
        raise Answered(page.get("kod"), str(page.get("subKod") or page.get("kod") or ""),
                       status=response.status_code)

    def _get(self, url: str, ico: str, until: float | None = None,
             pacer: Pace | None = None) -> AresResult:
        pace(pacer, until)
        response = self._session.get(url, timeout=self.settings.request_timeout())
        body = self._json(response)
        if response.status_code == 200:
            return AresResult(found=True, ico=ico, payload=body, status=200)
        if response.status_code == 404 and body.get("kod") == "NENALEZENO":
            return AresResult(found=False, ico=ico, status=404, error=body)
        # classified by RULES in ``call``: 400 is the IČO's fault, 5xx and 429 are retried
        raise Answered(body.get("kod"), str(body.get("subKod") or body.get("kod") or ""),
                       status=response.status_code)

    def _json(self, response: requests.Response) -> JsonDict:
        """The body as JSON, or {} for an error page; a 200 that is not JSON breaks the contract."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        if response.status_code == 200:
            raise Answered(None, "not JSON", status=200)
        return {}

    def test_connection(self) -> tuple[bool, str]:
        """Look up one well-known IČO; found or not found both prove ARES answers."""
        try:
            self.lookup("00006947")  # Ministerstvo financí
        except ConnectorError as exc:
            return False, str(exc)
        return True, f"ARES answered at {self.base_url}"
