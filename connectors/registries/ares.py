"""Czech ARES business register, REST API v3: one economic subject by IČO.

``lookup(ico)`` answers:
- ``found=True`` with ``payload`` = the raw v3 JSON (``EkonomickySubjekt``), ``status`` 200;
- ``found=False`` for 404 NENALEZENO (no such subject), ``error`` = the ``Chyba`` body;
- ``BadRecordError`` (quarantine) for 400 (CHYBA_VSTUPU): ARES says the IČO is malformed;
- ``TransientError`` for 5xx, 429 and network failures after the bounded retries;
- ``ConnectorConfigError`` for 401/403, ``RemoteRefusedError`` for other answers.
A dissolved company is still ``found``: ``payload["datumZaniku"]`` says when it ended; deciding
what that means belongs to reconciliation/.

Airflow connection: host (ares.gov.cz), port, schema "http"/"https" (default https),
``extra.endpoint`` (overrides ``Settings.base_path``), ``extra.verify``,
``extra.proxy``. No credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote

import requests

from connectors.classify import Answered, Rule, Rules, classify
from connectors.errors import Action, ConnectorError, Kind
from connectors.registries.inflight import within
from connectors.soap import INVALID_INPUT, HttpSettings, call, endpoint_url, http_session, rules
from core.connections import ConnectionInfo

JsonDict = dict[str, Any]
BAD_INPUT = "CHYBA_VSTUPU"

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

    def lookup(self, ico: str, until: float | None = None) -> AresResult:
        """One subject; ``until`` (a ``time.monotonic()`` deadline) ends the retries by then."""
        padded = pad_ico(ico)
        if not padded:  # refused without a call, as ARES would
            raise classify(Answered(BAD_INPUT, "empty IČO"), RULES, system=self.system)
        url = f"{self.base_url}/ekonomicke-subjekty/{quote(padded, safe='')}"
        return call(lambda: self._get(url, padded), system=self.system, table=RULES,
                    settings=within(self.settings, until))

    def _get(self, url: str, ico: str) -> AresResult:
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
