"""XML and WS-Security hardening shared by every zeep client.

- ``secure_zeep_settings``: strict parsing, no DTDs, no entities, no external fetches, no huge
  trees. zeep's defaults already forbid most of this; we pin them so an upgrade cannot relax them.
- ``username_token``: WS-Security UsernameToken with a password digest, so the password itself
  never travels (Base64(SHA1(nonce + created + password)) with a fresh nonce per request).
- ``MaskingTransport``: envelopes are logged at DEBUG only, with token values masked; it never
  fetches a document over the network (WSDL and XSD come from local files or memory), and it
  screens every response before zeep parses it (``screen_response``).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import zeep
from lxml import etree
from pydantic import SecretStr
from zeep import exceptions as zx
from zeep.utils import get_media_type
from zeep.wsse.username import UsernameToken

from connectors.errors import ConnectorConfigError

log = logging.getLogger("custhub.soap")
_RAW = logging.getLogger("custhub.soap.unmasked")  # zeep's verbatim dumps end here, unseen
_RAW.addHandler(logging.NullHandler())
_RAW.propagate = False
_LOGGED_BYTES = 4000

_WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_MASKED = ("Password", "Nonce")
# A DOCTYPE can only come before the root element: after the XML declaration and comments.
_DOCTYPE = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>)?\s*(?:<!--.*?-->\s*)*<!DOCTYPE",
                      re.S | re.I)
# An HTML page, whatever the Content-Type says: its DOCTYPE (or first tag) is html.
_HTML = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>)?\s*(?:<!--.*?-->\s*)*"
                   rb"<(?:!DOCTYPE\s+html|html)[\s>]", re.S | re.I)
_XML_MEDIA = ("text/xml", "application/soap+xml", "application/xml", "multipart/related",
              "application/wsdl+xml")


class NotSoapResponse(zx.TransportError):
    """The server answered with something other than XML (an HTML error or login page)."""


def secure_zeep_settings() -> zeep.Settings:
    return zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                         forbid_external=True, xml_huge_tree=False)


def username_token(login: str | None, password: SecretStr) -> UsernameToken:
    if not login:
        raise ConnectorConfigError("connection has no login for the WS-Security UsernameToken")
    return UsernameToken(login, password.get_secret_value(), use_digest=True)


def masked(envelope: etree._Element) -> str:
    """The envelope as text with every WS-Security Password and Nonce replaced by ***."""
    clone = copy.deepcopy(envelope)
    for name in _MASKED:
        for node in clone.iter(f"{{{_WSSE_NS}}}{name}"):
            node.text = "***"
    return etree.tostring(clone, encoding="unicode")


def screen_response(status: int, content_type: str, content: bytes) -> None:
    """Refuse, before any XML parser sees it, a body that is not XML or that carries a DTD.

    An HTML page (a gateway's error page, a login page, a wrong URL) is no XML at all, whatever
    its DOCTYPE: it is a transport failure (``NotSoapResponse``), never parsed. An XML body with
    a DTD is a security error: libxml2 stops an entity bomb itself, but as a plain syntax error
    that zeep reports as an HTTP failure; checking the prolog first makes both XXE and bombs the
    security errors they are.
    """
    head = content[:65536]
    media = get_media_type(content_type or "text/xml")
    if content and (media not in _XML_MEDIA or _HTML.match(head)):
        raise NotSoapResponse(f"HTTP {status} with a non-SOAP body ({media})", status_code=status)
    if _DOCTYPE.match(head):
        raise zx.DTDForbidden("<!DOCTYPE>", None, None)


class MaskingTransport(zeep.Transport):
    """zeep's Transport, logging envelopes with token values masked instead of verbatim.

    A zeep Plugin cannot do this: plugins see the envelope before WS-Security is applied, while
    ``Transport`` logs the final one, token included, at DEBUG. So the raw transport log goes to a
    silenced logger and this class logs a masked copy of what is really sent.

    ``documents`` maps a location to the bytes to use for it (a WSDL whose import was pointed at
    the packaged XSD); any other http(s) location is refused, so no contract is fetched remotely.
    """

    def __init__(self, *args: Any, documents: Mapping[str, bytes] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.logger = _RAW
        self._documents = dict(documents or {})

    def load(self, url: str) -> bytes:
        if url in self._documents:
            return self._documents[url]
        if urlparse(url).scheme in ("http", "https"):
            raise zx.ExternalReferenceForbidden(url)
        return super().load(url)

    def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> Any:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("SOAP request to %s: %s", address, masked(envelope))
        response = super().post_xml(address, envelope, headers)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("SOAP response HTTP %s: %s", response.status_code,
                      response.content[:_LOGGED_BYTES].decode("utf-8", "replace"))
        screen_response(response.status_code, response.headers.get("Content-Type", ""),
                        response.content)
        return response
