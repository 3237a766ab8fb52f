"""A tiny threaded HTTP server for the sandbox services, plus hardened SOAP/XML helpers.

Each sandbox service (CRM, VIES, ARES, ISIR) subclasses ``SandboxService`` and implements
``handle(request, mode)``. Services listen on real loopback sockets so connectors reach them
exactly as they would reach production.

Misbehaviour for tests: ``fail_next("http503", "doctype", ...)`` queues one mode per coming
request. These modes are the same for every service and answered here (``MODES``):

- ``http<status>``: that status with an HTML error page (what a gateway answers);
- ``slow:<seconds>``: wait, then answer normally (drives client timeouts);
- ``html``: 200 with an HTML page instead of SOAP (a captive proxy or a login page);
- ``fault:<code>``: a SOAP 1.1 ``env:Server`` fault with ``<code>`` as faultstring (VIES style);
- ``doctype``: the normal answer behind a DOCTYPE declaring an external entity (XXE);
- ``entity_bomb``: the normal answer with nested entity definitions ("billion laughs");
- ``sample:<path>``: the bytes of a recorded response file, 500 when it is a fault.
Any other mode is passed to the service's ``handle``.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_MAX_BODY = 1 << 20  # a sandbox request is a few KB; refuse anything huge outright


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/xml; charset=utf-8"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr: tests stay readable."""


class SandboxService:
    """Start/stop on a loopback port; subclasses answer ``Request`` with ``Response``."""

    def __init__(self) -> None:
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._modes: deque[str] = deque()
        self._modes_lock = threading.Lock()
        self.requests_served = 0

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._server = make_server(host, port, self._wsgi, server_class=_ThreadingServer,
                                   handler_class=_QuietHandler)
        # A short poll interval so stop() returns promptly (tests start many services).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name=type(self).__name__)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL (scheme, host, port) without a path."""
        return f"http://{self._server.server_address[0] if self._server else '?'}:{self.port}"

    def fail_next(self, *modes: str) -> None:
        with self._modes_lock:
            self._modes.extend(modes)

    def handle(self, request: Request, mode: str | None) -> Response:
        raise NotImplementedError

    def _next_mode(self) -> str | None:
        with self._modes_lock:
            self.requests_served += 1
            return self._modes.popleft() if self._modes else None

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        request = _read_request(environ)
        mode = self._next_mode()
        if request is None:
            response = Response(413, b"request too large", "text/plain")
        else:
            response = self._misbehave(request, mode)
        reason = HTTPStatus(response.status).phrase
        start_response(f"{response.status} {reason}",
                       [("Content-Type", response.content_type),
                        ("Content-Length", str(len(response.body)))])
        return [response.body]


    def _misbehave(self, request: Request, mode: str | None) -> Response:
        kind, _, arg = (mode or "").partition(":")
        if re.fullmatch(r"http\d{3}", kind):
            return Response(int(kind[4:]), _HTML_PAGE, "text/html")
        if kind == "slow":
            time.sleep(float(arg))
            return self.handle(request, None)
        if kind == "html":
            return Response(200, _HTML_PAGE, "text/html")
        if kind == "fault":
            return fault("env:Server", arg)
        if kind == "sample":
            body = Path(arg).read_bytes()
            return Response(500 if b"Fault>" in body else 200, body)
        if kind in _TRANSFORMS:
            response = self.handle(request, None)
            response.body = _TRANSFORMS[kind](response.body)
            return response
        return self.handle(request, mode)


_HTML_PAGE = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"


def _read_request(environ: dict[str, Any]) -> Request | None:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > _MAX_BODY:
        return None
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
               if k.startswith("HTTP_")}
    return Request(method=environ["REQUEST_METHOD"], path=environ.get("PATH_INFO", "/"),
                   query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
                   body=body, headers=headers)


# --- XML ------------------------------------------------------------------------------------


class XmlRejected(ValueError):
    """A request the sandbox refuses to parse (not well-formed, DTD, entities)."""


def parse_xml(body: bytes) -> etree._Element:
    """Parse untrusted XML: no DTD loading, no entity expansion, no network, no DOCTYPE at all."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"not well-formed XML: {exc.msg}") from exc
    if root.getroottree().docinfo.doctype:
        raise XmlRejected("DOCTYPE is not allowed")
    return root


def soap_body_child(envelope: etree._Element) -> etree._Element:
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    if envelope.tag != f"{{{SOAP_ENV}}}Envelope" or body is None or len(body) == 0:
        raise XmlRejected("not a SOAP 1.1 envelope with a body")
    return body[0]


def envelope(payload: etree._Element) -> bytes:
    """``env:Envelope`` with an empty ``env:Header``, as VIES has answered since 2022."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"env": SOAP_ENV})
    etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
    etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def fault(code: str, message: str, detail: etree._Element | None = None,
          nsmap: dict[str, str] | None = None) -> Response:
    """A SOAP 1.1 fault, answered with HTTP 500 as the SOAP 1.1 HTTP binding requires."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"env": SOAP_ENV, **(nsmap or {})})
    etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
    node = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(node, "faultcode").text = code
    etree.SubElement(node, "faultstring").text = message
    if detail is not None:
        etree.SubElement(node, "detail").append(detail)
    return Response(500, etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def with_doctype(xml: bytes) -> bytes:
    """The same document behind a DOCTYPE declaring an external entity (an XXE attempt)."""
    head = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<!DOCTYPE env:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n')
    return head + xml.split(b"?>", 1)[-1].lstrip()


def with_entity_bomb(xml: bytes) -> bytes:
    """The same document with "billion laughs" entities, referenced from the SOAP header."""
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE env:Envelope ['
            + "".join(levels) + "]>\n").encode()
    body = xml.split(b"?>", 1)[-1].lstrip().replace(b"<env:Header/>",
                                                     b"<env:Header>&lol9;</env:Header>", 1)
    return head + body


_TRANSFORMS = {"doctype": with_doctype, "entity_bomb": with_entity_bomb}


def rewrite_soap_address(wsdl: bytes, location: str) -> bytes:
    """Point the WSDL's ``soap:address`` (whatever its prefix) at ``location``; bytes otherwise
    untouched, so the served document is the real one."""
    pattern = re.compile(rb'(<[\w-]+:address\s+location=")[^"]*(")')
    return pattern.sub(lambda m: m.group(1) + location.encode() + m.group(2), wsdl, count=1)


class SoapService(SandboxService):
    """A SOAP look-alike: its WSDL at ``PATH?wsdl`` (pointing at itself), envelopes POSTed to ``PATH``."""

    PATH: str
    WSDL_FILE: Path

    @property
    def url(self) -> str:
        return super().url + self.PATH

    def handle(self, request: Request, mode: str | None) -> Response:
        if request.path != self.PATH:
            return Response(404, b"not found", "text/plain")
        document = self.document(request.query) if request.method == "GET" else None
        if document is not None:
            return Response(200, document)
        if request.method != "POST":
            return Response(405, b"POST a SOAP envelope", "text/plain")
        return self.answer(request.body)

    def document(self, query: dict[str, list[str]]) -> bytes | None:
        """The contract documents served on GET (the WSDL); None for anything else."""
        if "wsdl" in query:
            return rewrite_soap_address(self.WSDL_FILE.read_bytes(), self.url)
        return None

    def answer(self, body: bytes) -> Response:
        raise NotImplementedError
