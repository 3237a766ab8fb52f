"""XML and WS-Security hardening shared by every zeep client.

- ``secure_zeep_settings``: strict parsing, no DTDs, no entities, no external fetches, no huge
  trees. zeep's defaults already forbid most of this; we pin them so an upgrade cannot relax them.
- ``username_token``: WS-Security UsernameToken with a password digest, so the password itself
  never travels (Base64(SHA1(nonce + created + password)) with a fresh nonce per request).
- ``MaskingTransport``: envelopes are logged at DEBUG only, with token values masked.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import zeep
from lxml import etree
from pydantic import SecretStr
from zeep.wsse.username import UsernameToken

from connectors.errors import ConnectorConfigError

log = logging.getLogger("custhub.soap")
_RAW = logging.getLogger("custhub.soap.unmasked")  # zeep's verbatim dumps end here, unseen
_RAW.addHandler(logging.NullHandler())
_RAW.propagate = False
_LOGGED_BYTES = 4000

_WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_MASKED = ("Password", "Nonce")


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


class MaskingTransport(zeep.Transport):
    """zeep's Transport, logging envelopes with token values masked instead of verbatim.

    A zeep Plugin cannot do this: plugins see the envelope before WS-Security is applied, while
    ``Transport`` logs the final one, token included, at DEBUG. So the raw transport log goes to a
    silenced logger and this class logs a masked copy of what is really sent.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.logger = _RAW

    def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> Any:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("SOAP request to %s: %s", address, masked(envelope))
        response = super().post_xml(address, envelope, headers)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("SOAP response HTTP %s: %s", response.status_code,
                      response.content[:_LOGGED_BYTES].decode("utf-8", "replace"))
        return response
