"""The bulk of a SOAP reply read with lxml, while zeep keeps the envelope, the faults and the
contract.

zeep turns every element of a reply into objects through its type system: about 100 µs an
account of the CRM, so reading a page cost far more than fetching it. ``BulkTaker`` is a zeep
plugin. zeep receives and parses the reply as ever (its own hardened parser: no DTD, no entities,
no external references, no huge trees; ``screen_response`` refused a DOCTYPE before that); then,
before zeep deserialises the body, the plugin hands zeep a copy of the envelope in which the one
repeated container of the answer (the CRM's ``accounts``) is empty, and keeps the original. zeep
does everything else as before: a fault is still zeep's Fault, a wrong envelope still zeep's
error, the rest of the answer (``hasMore``) still typed by the WSDL. ``TypedRecords`` reads the
kept elements into the dicts ``zeep.helpers.serialize_object`` would give, with the field names
and value types taken from the WSDL's own complex type, so the contract stays the one source.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lxml import etree
from zeep import Plugin
from zeep import exceptions as zx
from zeep.xsd.types import AnySimpleType
from zeep.xsd.types.builtins import DateTime, String

log = logging.getLogger("custhub.soap")
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

Convert = Callable[[str], Any]


class BulkTaker(Plugin):
    """Takes ``Body/<answer>/<container>`` (or the answer itself, when the repeated elements
    are its own children) out of ``operation``'s replies, for ``take()``.

    What it took is kept per thread and dropped when the next request leaves, so a call that
    failed after the reply arrived never hands its elements to the next one."""

    def __init__(self, operation: str, answer: str, container: str | None = None):
        self._operation = operation
        self._path = f"{{{SOAP11_ENV}}}Body/{answer}" + (f"/{container}" if container else "")
        self._taken = threading.local()

    def egress(self, envelope: etree._Element, http_headers: dict[str, str], operation: Any,
               binding_options: Any) -> tuple[etree._Element, dict[str, str]]:
        self._taken.node = None
        return envelope, http_headers

    def ingress(self, envelope: etree._Element, http_headers: dict[str, str],
                operation: Any) -> tuple[etree._Element, dict[str, str]]:
        node = envelope.find(self._path) if operation.name == self._operation else None
        self._taken.node = node
        return (envelope if node is None else _hollowed(node)), http_headers

    def take(self) -> etree._Element | None:
        """The container the last reply held (None when it had none); once."""
        node, self._taken.node = getattr(self._taken, "node", None), None
        return node


def _hollowed(node: etree._Element) -> etree._Element:
    """A copy of ``node``'s document with ``node`` empty, still valid for the WSDL (zeep reads an
    empty container as None). Built, not cut: detaching thousands of elements from a tree costs
    lxml far more than copying the few around them."""
    hollow = etree.Element(node.tag, attrib=dict(node.attrib), nsmap=node.nsmap)
    child, parent = node, node.getparent()
    while parent is not None:
        twin = etree.Element(parent.tag, attrib=dict(parent.attrib), nsmap=parent.nsmap)
        twin.text = parent.text
        twin.extend(hollow if sibling is child else copy.deepcopy(sibling) for sibling in parent)
        hollow, child, parent = twin, parent, parent.getparent()
    return hollow


class TypedRecords:
    """Elements of one XSD complex type (``xsd_type``, from zeep's parsed WSDL) read as dicts.

    Each dict has every element of the type, in the type's order; an absent or empty element is
    None, as zeep gives it; a value converts as zeep's type would (a dateTime by
    ``datetime.fromisoformat``, much faster, and by zeep when that cannot read it). Under zeep's
    strict settings an element the type does not have is a ``zeep.exceptions.XMLParseError``."""

    def __init__(self, item: str, xsd_type: Any):
        self._item = item
        self._fields: dict[str, tuple[str, Convert | None]] = {
            element.qname.text: (name, _converter(element.type))
            for name, element in xsd_type.elements}
        self._blank = dict.fromkeys(name for name, _ in xsd_type.elements)

    def read(self, container: etree._Element | None) -> list[dict[str, Any]]:
        if container is None:
            return []
        records = []
        for node in container:
            if node.tag != self._item:
                raise zx.XMLParseError(f"Unexpected element {node.tag!r}")
            records.append(self._record(node))
        return records

    def _record(self, node: etree._Element) -> dict[str, Any]:
        record, fields = self._blank.copy(), self._fields
        for child in node:
            field = fields.get(child.tag)
            if field is None:
                raise zx.XMLParseError(f"Unexpected element {child.tag!r}")
            text = child.text
            if text is not None:  # None: the blank's value already
                name, convert = field
                record[name] = text if convert is None else _value(name, convert, text)
        return record


def _converter(xsd_type: Any) -> Convert | None:
    """None for text kept as it is; else the conversion zeep's type makes."""
    if isinstance(xsd_type, String):
        return None
    if isinstance(xsd_type, DateTime):
        return lambda text: _datetime(xsd_type, text)
    if isinstance(xsd_type, AnySimpleType):
        return xsd_type.pythonvalue
    raise TypeError(f"{xsd_type!r} is not a simple type: read it with zeep")


def _datetime(xsd_type: DateTime, text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return xsd_type.pythonvalue(text)  # the ISO 8601 forms fromisoformat does not read


def _value(name: str, convert: Convert, text: str) -> Any:
    try:
        return convert(text)
    except (TypeError, ValueError):
        # zeep's own behaviour: a value its type cannot read becomes None, with a log line
        log.warning("SOAP reply: %s is not of its WSDL type; read as empty", name)
        return None
