"""Shared plumbing for the HTTP-based connectors (SOAP via zeep, and ARES over plain requests).

Three things every HTTP connector needs and must get the same way:
- where the system lives, read from the Airflow connection (``endpoint_url``, in
  ``connectors.http``: plain http off loopback refused unless allowed);
- a configured ``requests.Session`` (``http_session``, also ``connectors.http``: no redirect for
  a POST), never zeep's or requests' defaults;
- one failure table (``connectors.classify``) turning driver exceptions, HTTP statuses and SOAP
  faults into the ``connectors.errors`` tree, so a failure is classified once, at the boundary.

Each connector keeps its own rows (fault codes, answers); ``rules(own)`` puts the shared ones
after them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import requests
import zeep
from lxml import etree
from tenacity import Retrying
from pydantic import BaseModel, ConfigDict, Field
from zeep import exceptions as zx

from connectors.classify import Answered, Rule, Rules, classify
from connectors.errors import Action, ConnectorConfigError, ConnectorError, Kind
from connectors.http import RedirectRefused, endpoint_url, http_session  # noqa: F401 (re-exported)
from connectors.retry import call_with_retry, retrying
from connectors.soap.security import (
    MaskingTransport,
    NotSoapResponse,
    screen_response,
    secure_zeep_settings,
)

T = TypeVar("T")


# What the failure table translates; anything else is a bug and surfaces as itself.
DRIVER_ERRORS = (zx.Error, requests.RequestException, etree.XMLSyntaxError, Answered)


class HttpSettings(BaseModel):
    """Timeouts and retries every HTTP connector shares (seconds)."""

    model_config = ConfigDict(extra="forbid")

    operation_timeout: float = Field(30.0, gt=0)
    connect_timeout: float = Field(5.0, gt=0)
    retry_attempts: int = Field(4, ge=1, le=10)
    # Exponential backoff with jitter between attempts, capped; tests set these tiny.
    retry_initial_wait: float = Field(0.5, ge=0)
    retry_max_wait: float = Field(10.0, ge=0)
    retry_deadline: float = Field(120.0, gt=0)  # no more attempts after this long

    def request_timeout(self) -> tuple[float, float]:
        # requests takes (connect, read): a dead host fails fast, a slow answer gets its time.
        return (self.connect_timeout, self.operation_timeout)


def zeep_client(wsdl: Path | str, session: requests.Session, settings: HttpSettings,
                wsse: object | None = None,
                documents: Mapping[str, bytes] | None = None,
                plugins: Sequence[zeep.Plugin] = ()) -> zeep.Client:
    """A zeep client over a local WSDL (never fetched), with the hardened XML settings.

    ``operation_timeout`` is always set: zeep's default is to wait forever."""
    transport = MaskingTransport(session=session, timeout=settings.connect_timeout,
                                 operation_timeout=settings.request_timeout(),
                                 documents=documents)
    return zeep.Client(str(wsdl), transport=transport, settings=secure_zeep_settings(),
                       wsse=wsse, plugins=list(plugins))


def call(fn: Callable[[], T], *, system: str, table: Rules, settings: HttpSettings) -> T:
    """Run ``fn`` with classification by ``table`` and the bounded transport retry policy."""

    def classified() -> T:
        try:
            return fn()
        except DRIVER_ERRORS as exc:
            raise classify(exc, table, system=system) from exc

    return call_with_retry(classified, retry_policy(settings))


class ContractError(ConnectorConfigError):
    """The service's contract (its WSDL) did not load: every call would fail the same way, so
    this is a configuration error of the run, raised once, not one error per record."""


def load_contract(build: Callable[[], T], *, system: str, where: str, table: Rules,
                  settings: HttpSettings) -> T:
    """Run ``build`` (fetch and parse a WSDL, create the service) with the transport retries;
    any failure after them is a ``ContractError`` naming ``where`` (a path, or a URL shown
    without user, password or query string)."""
    try:
        return call(build, system=system, table=table, settings=settings)
    except ConnectorError as exc:
        raise ContractError(f"the WSDL at {_shown(where)} did not load: {exc.args[0]}",
                            system=system, detail=exc.detail) from exc
    except (OSError, ValueError, LookupError) as exc:  # a missing file, a binding not in the WSDL
        raise ContractError(f"the WSDL at {_shown(where)} did not load: {type(exc).__name__}",
                            system=system, detail=type(exc).__name__) from exc


def _shown(where: str) -> str:
    parts = urlsplit(where)
    if parts.scheme not in ("http", "https"):
        return where
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def fetch_document(session: requests.Session, url: str, settings: HttpSettings) -> bytes:
    """A contract document fetched over the connector's session, screened like every response
    (an HTML page or a DTD is refused before any parser sees it)."""
    response = session.get(url, timeout=settings.request_timeout())
    response.raise_for_status()  # classified by the table's HTTP rows
    screen_response(response.status_code, response.headers.get("Content-Type", ""),
                    response.content)
    return response.content


def retry_policy(settings: HttpSettings) -> Retrying:
    """The one bounded transport policy, from the connector's settings."""
    return retrying(attempts=settings.retry_attempts, initial=settings.retry_initial_wait,
                    maximum=settings.retry_max_wait, deadline=settings.retry_deadline)


# --- the failure table ------------------------------------------------------------------------
# Every failure an HTTP connector can meet, and what it calls for, after the connector's own rows
# (``rules(own)``). First match wins: SSLError is a ConnectionError, but a security failure.

_SERVER_TROUBLE = frozenset(range(500, 600)) | {408, 425, 429}
UNKNOWN, SECURITY_ERROR, INVALID_INPUT = "unknown", "security_error", "invalid_input"

TRANSPORT: Rules = (
    Rule(Action.FAIL, Kind.SECURITY, "response carries a DTD", exception=zx.DTDForbidden,
         outcome=SECURITY_ERROR),
    Rule(Action.FAIL, Kind.SECURITY, "response declares XML entities",
         exception=zx.EntitiesForbidden, outcome=SECURITY_ERROR),
    Rule(Action.FAIL, Kind.SECURITY, "response references an external resource",
         exception=zx.ExternalReferenceForbidden, outcome=SECURITY_ERROR),
    Rule(Action.FAIL, Kind.SECURITY, "TLS verification failed",
         exception=requests.exceptions.SSLError, outcome=SECURITY_ERROR),
    # the configured address moved: re-sending a POST (body, WS-Security header) elsewhere is
    # not ours to decide, so the admin is told where it pointed
    Rule(Action.FAIL, Kind.CONFIG, "HTTP {status}: {text}", exception=RedirectRefused),
    Rule(Action.RETRY, Kind.TRANSIENT, "timed out", exception=requests.exceptions.Timeout,
         outcome=UNKNOWN),
    Rule(Action.RETRY, Kind.TRANSIENT, "connection failed",
         exception=requests.exceptions.ConnectionError, outcome=UNKNOWN),
    Rule(Action.RETRY, Kind.TRANSIENT, "HTTP {status}", status=_SERVER_TROUBLE, outcome=UNKNOWN),
    Rule(Action.FAIL, Kind.CONFIG, "HTTP {status}: credentials refused", status={401, 403}),
    # An HTML page where XML was due (a gateway's error or maintenance page, a captive proxy):
    # a transport failure, retried and then "unknown", never parsed and never an answer. A 4xx
    # page (a wrong path) falls to the HTTP row below.
    Rule(Action.RETRY, Kind.TRANSIENT, "HTTP {status}: a page that is not XML",
         exception=NotSoapResponse, status=range(200, 400), outcome=UNKNOWN),
    Rule(Action.FAIL, Kind.REFUSED, "HTTP {status}", status=range(100, 600)),
    # zeep validates what we send against the WSDL: a value that does not fit is the record's fault.
    Rule(Action.QUARANTINE, Kind.DATA, "value does not fit the WSDL",
         exception=zx.ValidationError, outcome=INVALID_INPUT),
    Rule(Action.FAIL, Kind.REFUSED, "response does not match the WSDL",
         exception=zx.XMLParseError),
    Rule(Action.FAIL, Kind.REFUSED, "response is not a well-formed SOAP envelope",
         exception=zx.XMLSyntaxError),
    Rule(Action.FAIL, Kind.REFUSED, "response is not well-formed XML",
         exception=etree.XMLSyntaxError),
)

# SOAP 1.1: a Client fault will not change on retry, a Server fault may; any other fault code
# (VersionMismatch, MustUnderstand, one of the service's own) is a refusal that names its code.
FAULTS: Rules = (
    Rule(Action.FAIL, Kind.REFUSED, "SOAP fault {code}: {text}", exception=zx.Fault,
         fault="Client"),
    Rule(Action.RETRY, Kind.TRANSIENT, "SOAP fault {code}: {text}", exception=zx.Fault,
         fault="Server", outcome=UNKNOWN),
    Rule(Action.FAIL, Kind.REFUSED, "unknown SOAP fault {code}: {text}", exception=zx.Fault),
    Rule(Action.FAIL, Kind.REFUSED, "unexpected response ({type})"),
)


def rules(own: Rules = ()) -> Rules:
    """A connector's table: its own rows (fault codes, answers) first, then the shared ones."""
    return (*own, *TRANSPORT, *FAULTS)
