"""The sandbox CRM on its own: every account read page by page with a plain HTTP client.

A hand-written SOAP envelope with its WS-Security digest, POSTed with ``requests`` and the
answer parsed with lxml (entities and DTDs refused): no zeep, no hub, so the figure is what
the sandbox service itself can serve, to be set beside the hub's extract:crm step.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from datetime import UTC, datetime
from typing import Any

import requests
from lxml import etree

from sandbox.crm_service import DIGEST, NS, WSSE, WSU

PAGE_SIZE = 1000  # the WSDL's maximum
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def _request(user: str, password: str, after: str | None, after_id: str) -> bytes:
    nonce, created = os.urandom(16), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest())
    since = f"<c:modifiedAfter>{after}</c:modifiedAfter>" if after else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="{SOAP_ENV}" xmlns:c="{NS}"'
            f' xmlns:s="{WSSE}" xmlns:u="{WSU}"><e:Header><s:Security><s:UsernameToken>'
            f"<s:Username>{user}</s:Username>"
            f"<s:Password Type=\"{DIGEST}\">{digest.decode()}</s:Password>"
            f"<s:Nonce>{base64.b64encode(nonce).decode()}</s:Nonce><u:Created>{created}</u:Created>"
            f"</s:UsernameToken></s:Security></e:Header><e:Body><c:GetAccountsModifiedSince>{since}"
            f"<c:afterId>{after_id}</c:afterId><c:pageSize>{PAGE_SIZE}</c:pageSize>"
            f"</c:GetAccountsModifiedSince></e:Body></e:Envelope>").encode()


def scan(conn: dict[str, Any]) -> dict[str, float]:
    """Read every account over ``conn`` (the estate's Airflow connection of the CRM)."""
    url = f"http://{conn['host']}:{conn['port']}/crm/soap"
    accounts = pages = 0
    after, after_id, more = None, "", True
    started = time.perf_counter()
    with requests.Session() as session:
        while more:
            request = _request(conn["login"], conn["password"], after, after_id)
            answer = session.post(url, data=request, timeout=120,
                                  headers={"Content-Type": "text/xml; charset=utf-8"})
            answer.raise_for_status()
            body = etree.fromstring(answer.content, _PARSER)
            rows = body.findall(f".//{{{NS}}}account")
            if rows:
                after = rows[-1].findtext(f"{{{NS}}}ModifiedAt")
                after_id = rows[-1].findtext(f"{{{NS}}}AccountId")
            more = body.findtext(f".//{{{NS}}}hasMore") == "true"
            accounts, pages = accounts + len(rows), pages + 1
    seconds = time.perf_counter() - started
    return {"accounts": accounts, "pages": pages, "seconds": seconds,
            "records_per_s": accounts / seconds if seconds else 0.0}
