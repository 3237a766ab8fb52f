"""Shared plumbing for the HTTP-based connectors (SOAP via zeep, and ARES over plain requests).

Three things every HTTP connector needs and must get the same way:
- where the system lives, read from the Airflow connection (``endpoint_url``);
- a configured ``requests.Session`` (``http_session``), never zeep's or requests' defaults;
- one failure table (``classify``) turning driver exceptions, HTTP statuses and SOAP faults
  into the ``connectors.errors`` tree, so a failure is classified once, at the boundary.

Each connector passes its own fault-code table; the generic rules live here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import requests
import zeep
from lxml import etree
from tenacity import Retrying
from pydantic import BaseModel, ConfigDict, Field
from zeep import exceptions as zx

from connectors.errors import (
    BadRecordError,
    ConnectorConfigError,
    ConnectorError,
    RemoteRefusedError,
    SecurityError,
    TransientError,
)
from connectors.retry import call_with_retry, retrying
from connectors.soap.security import MaskingTransport, NotSoapResponse, secure_zeep_settings
from core.connections import ConnectionInfo

T = TypeVar("T")
ErrorClass = type[ConnectorError]
FaultTable = Mapping[str, ErrorClass]


# What the failure table translates; anything else is a bug and surfaces as itself.
DRIVER_ERRORS = (zx.Error, requests.RequestException, etree.XMLSyntaxError)


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


def endpoint_url(conn: ConnectionInfo, default_path: str) -> str:
    """``scheme://host[:port]/path`` from the connection; ``extra.endpoint`` overrides the path.

    The scheme is ``conn.schema`` when it is http/https, else ``extra.scheme``, else https:
    plain HTTP must be asked for explicitly.
    """
    if not conn.host:
        raise ConnectorConfigError(f"connection {conn.conn_id!r} has no host")
    scheme = conn.schema if conn.schema in ("http", "https") else conn.extra.get("scheme", "https")
    if scheme not in ("http", "https"):
        raise ConnectorConfigError(f"connection {conn.conn_id!r}: scheme must be http or https")
    port = f":{conn.port}" if conn.port else ""
    path = str(conn.extra.get("endpoint") or default_path)
    return f"{scheme}://{conn.host}{port}/{path.lstrip('/')}"


def http_session(conn: ConnectionInfo) -> requests.Session:
    """A session with TLS verification on (``extra.verify`` may name a CA bundle). Proxies come
    only from ``extra.proxy``, never from the environment by surprise."""
    session = requests.Session()
    session.trust_env = False
    session.verify = conn.extra.get("verify", True)
    if conn.extra.get("proxy"):
        session.proxies = {"http": conn.extra["proxy"], "https": conn.extra["proxy"]}
    session.headers["User-Agent"] = "custhub"
    return session


def zeep_client(wsdl: Path | str, session: requests.Session, settings: HttpSettings,
                wsse: object | None = None,
                documents: Mapping[str, bytes] | None = None) -> zeep.Client:
    """A zeep client over a local WSDL (never fetched), with the hardened XML settings.

    ``operation_timeout`` is always set: zeep's default is to wait forever."""
    transport = MaskingTransport(session=session, timeout=settings.connect_timeout,
                                 operation_timeout=settings.request_timeout(),
                                 documents=documents)
    return zeep.Client(str(wsdl), transport=transport, settings=secure_zeep_settings(),
                       wsse=wsse)


def call(fn: Callable[[], T], *, system: str, faults: FaultTable,
         settings: HttpSettings) -> T:
    """Run ``fn`` with classification and the bounded transport retry policy."""

    def classified() -> T:
        try:
            return fn()
        except DRIVER_ERRORS as exc:
            raise classify(exc, system=system, faults=faults) from exc

    return call_with_retry(classified, retry_policy(settings))


def retry_policy(settings: HttpSettings) -> Retrying:
    """The one bounded transport policy, from the connector's settings."""
    return retrying(attempts=settings.retry_attempts, initial=settings.retry_initial_wait,
                    maximum=settings.retry_max_wait, deadline=settings.retry_deadline)


# --- the failure table ------------------------------------------------------------------------
# Every failure an HTTP connector can meet, and what it calls for. Read top to bottom: the first
# matching row wins (SSLError is a ConnectionError, but it is a security failure, not a blip).
#
#   what happened                               error class          action      kind
#   DTD / entity declaration / external ref     SecurityError        fail        security
#   TLS verification failed                     SecurityError        fail        security
#   timeout (connect or read)                   TransientError       retry       transient
#   connection refused / reset / DNS            TransientError       retry       transient
#   HTTP 5xx, 408, 425, 429 (any body)          TransientError       retry       transient
#   HTTP 401, 403                               ConnectorConfigError fail        config
#   other HTTP status, or 200 with non-SOAP     RemoteRefusedError   fail        config
#   SOAP fault code in the connector's table    as the table says (VersionConflict, INVALID_INPUT…)
#   SOAP fault env:Client (anything else)       RemoteRefusedError   fail        config
#   SOAP fault env:Server (anything else)       TransientError       retry       transient
#   a value we send does not fit the WSDL       BadRecordError       quarantine  data
#   response does not fit the WSDL / not XML    RemoteRefusedError   fail        config

_EXCEPTIONS: list[tuple[type[BaseException], ErrorClass, str]] = [
    (zx.DTDForbidden, SecurityError, "response carries a DTD"),
    (zx.EntitiesForbidden, SecurityError, "response declares XML entities"),
    (zx.ExternalReferenceForbidden, SecurityError, "response references an external resource"),
    (requests.exceptions.SSLError, SecurityError, "TLS verification failed"),
    (requests.exceptions.Timeout, TransientError, "timed out"),
    (requests.exceptions.ConnectionError, TransientError, "connection failed"),
    # zeep validates what we send against the WSDL: a value that does not fit is the record's fault.
    (zx.ValidationError, BadRecordError, "value does not fit the WSDL"),
    (zx.XMLParseError, RemoteRefusedError, "response does not match the WSDL"),
    (zx.XMLSyntaxError, RemoteRefusedError, "response is not a well-formed SOAP envelope"),
    (etree.XMLSyntaxError, RemoteRefusedError, "response is not well-formed XML"),
]

_TRANSIENT_STATUS = frozenset({408, 425, 429})
_AUTH_STATUS = frozenset({401, 403})


def classify(exc: BaseException, *, system: str,
             faults: FaultTable = MappingProxyType({})) -> ConnectorError:
    """Translate one driver exception; messages carry no envelope, header or secret."""
    if isinstance(exc, zx.Fault):
        return classify_fault(exc.code, exc.message, system=system, faults=faults)
    if isinstance(exc, NotSoapResponse):
        return classify_status(exc.status_code, system=system, body="non-SOAP body")
    if isinstance(exc, zx.TransportError):
        return classify_status(exc.status_code, system=system)
    for exc_type, error_cls, text in _EXCEPTIONS:
        if isinstance(exc, exc_type):
            return error_cls(text, system=system, detail=type(exc).__name__)
    return RemoteRefusedError("unexpected response", system=system, detail=type(exc).__name__)


def classify_status(status: int, *, system: str, body: str | None = None) -> ConnectorError:
    message = f"HTTP {status}" + (f" ({body})" if body else "")
    if status >= 500 or status in _TRANSIENT_STATUS:
        return TransientError(message, system=system, detail=body)
    if status in _AUTH_STATUS:
        return ConnectorConfigError(f"{message}: credentials refused", system=system, detail=body)
    return RemoteRefusedError(message, system=system, detail=body)


def classify_fault(code: str | None, message: str | None, *, system: str,
                   faults: FaultTable) -> ConnectorError:
    """Connector table first (by faultstring, then faultcode local name), then SOAP 1.1 rules:
    a Client fault will not change on retry, a Server fault may."""
    local_code = (code or "").rpartition(":")[2]
    text = message or local_code or "SOAP fault"
    for key in (message, local_code):
        if key and key in faults:
            return faults[key](f"SOAP fault {key}", system=system, detail=key)
    if local_code == "Client":
        return RemoteRefusedError(f"SOAP fault: {text}", system=system, detail=text)
    return TransientError(f"SOAP fault: {text}", system=system, detail=text)
