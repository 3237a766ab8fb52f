"""How custhub reaches an HTTP system: the address from the connection, and a session that will
not leak what it sends.

- ``endpoint_url``: ``scheme://host[:port]/path``. Plain http is refused to any host but loopback
  unless the connection's extra says ``allow_insecure: true``; then every run warns.
- ``http_session``: TLS verification on, proxies only from the connection, and a redirect policy:
  a POST (a SOAP call, a webhook) is never re-sent elsewhere; a GET follows a redirect only on the
  same host and never from https down to http. A refused redirect is a ``RedirectRefused`` naming
  the Location's host, never the body or headers.

requests follows every redirect by default, 307/308 with the POST body and any WS-Security
header inside it; stripping Authorization on a host change does not help a token in the body.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urljoin, urlsplit

import requests

from connectors.errors import ConnectorConfigError
from core.connections import ConnectionInfo

log = logging.getLogger("custhub.http")

_FOLLOWED_METHODS = frozenset({"GET", "HEAD"})


class RedirectRefused(requests.RequestException):
    """A 3xx the session would not follow; ``location_host`` is where it pointed."""

    def __init__(self, status: int, method: str, location_host: str) -> None:
        super().__init__(f"redirect to {location_host} not followed for {method} "
                         "(check the connection's host and endpoint)")
        self.status_code, self.location_host = status, location_host


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allows_insecure(conn: ConnectionInfo) -> bool:
    flag = conn.extra.get("allow_insecure", False)
    return flag is True or (isinstance(flag, str) and flag.strip().lower() == "true")


def check_scheme(conn: ConnectionInfo, scheme: str) -> None:
    """Refuse plain http off loopback unless the connection allows it (then warn)."""
    if scheme != "http" or is_loopback(conn.host or ""):
        return
    if not allows_insecure(conn):
        raise ConnectorConfigError(
            f"connection {conn.conn_id!r}: plain http to {conn.host} is refused; use https, "
            "or set extra allow_insecure: true to accept credentials and data in clear text")
    log.warning("connection %s: plain http to %s (allow_insecure: true): credentials and data "
                "travel unencrypted", conn.conn_id, conn.host)


def endpoint_url(conn: ConnectionInfo, default_path: str) -> str:
    """``scheme://host[:port]/path`` from the connection; ``extra.endpoint`` overrides the path.

    The scheme is ``conn.schema`` when it is http/https, else ``extra.scheme``, else https:
    plain HTTP must be asked for explicitly, and off loopback allowed explicitly too.
    """
    if not conn.host:
        raise ConnectorConfigError(f"connection {conn.conn_id!r} has no host")
    scheme = conn.schema if conn.schema in ("http", "https") else conn.extra.get("scheme", "https")
    if scheme not in ("http", "https"):
        raise ConnectorConfigError(f"connection {conn.conn_id!r}: scheme must be http or https")
    check_scheme(conn, scheme)
    port = f":{conn.port}" if conn.port else ""
    path = str(conn.extra.get("endpoint") or default_path)
    return f"{scheme}://{conn.host}{port}/{path.lstrip('/')}"


class GuardedSession(requests.Session):
    """A ``requests.Session`` whose redirects follow the policy in the module docstring."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        location = super().get_redirect_target(resp)
        if location is None or resp.request is None:
            return location
        method = (resp.request.method or "").upper()
        source, target = urlsplit(resp.url), urlsplit(urljoin(resp.url, location))
        same_host = (target.hostname, target.port) == (source.hostname, source.port)
        downgrade = source.scheme == "https" and target.scheme != "https"
        if method not in _FOLLOWED_METHODS or not same_host or downgrade:
            host = target.hostname or source.hostname or "?"
            raise RedirectRefused(resp.status_code, method,
                                  f"{host}:{target.port}" if target.port else host)
        return location


def http_session(conn: ConnectionInfo) -> requests.Session:
    """A guarded session with TLS verification on (``extra.verify`` may name a CA bundle).
    Proxies come only from ``extra.proxy``, never from the environment by surprise."""
    session = GuardedSession()
    session.trust_env = False
    session.verify = conn.extra.get("verify", True)
    if conn.extra.get("proxy"):
        session.proxies = {"http": conn.extra["proxy"], "https": conn.extra["proxy"]}
    session.headers["User-Agent"] = "custhub"
    return session
