"""The bulk of a SOAP request written with lxml, while zeep keeps the envelope, the security
header and the contract (the mirror of connectors.soap.bulk_reply).

zeep renders a request through its type system: value objects from keyword arguments, then an
element per value, about 1 ms per CRM account in an ``UpsertAccounts`` call, more than the CRM
takes to apply it. ``BulkGiver`` is a zeep plugin: the connector lets zeep render the call with
its first item as ever (typed, validated, in the envelope with its WS-Security header), and
hands the giver the other items as elements ``ItemWriter`` built from the WSDL's own complex
type (element names, order, namespace and each value's ``xmlvalue``). On the way out the giver
appends them after zeep's item, before WS-Security is applied, on every attempt of the call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from lxml import etree
from zeep import Plugin

from connectors.soap.bulk_reply import SOAP11_ENV


class BulkGiver(Plugin):
    """Appends the elements given for ``operation`` under ``Body/<request>`` of its requests."""

    def __init__(self, operation: str, request: str):
        self._operation = operation
        self._path = f"{{{SOAP11_ENV}}}Body/{request}"
        self._given = threading.local()

    @contextmanager
    def giving(self, elements: Sequence[etree._Element]) -> Iterator[None]:
        """Within: this thread's calls of the operation carry ``elements`` after zeep's own."""
        self._given.elements = elements
        try:
            yield
        finally:
            self._given.elements = None

    def egress(self, envelope: etree._Element, http_headers: dict[str, str], operation: Any,
               binding_options: Any) -> tuple[etree._Element, dict[str, str]]:
        elements = getattr(self._given, "elements", None)
        if elements and operation.name == self._operation:
            request = envelope.find(self._path)
            if request is None:
                raise ValueError(f"no {self._path} in the {self._operation} request")
            request.extend(elements)  # a retry's new envelope takes them from the last one
        return envelope, http_headers


class ItemWriter:
    """Elements of one complex type (from zeep's parsed WSDL), written as zeep renders them:
    the type's elements in its order, qualified by ``namespace``, each value by its type's
    ``xmlvalue``; a None or absent value is left out (minOccurs 0)."""

    def __init__(self, namespace: str, xsd_type: Any):
        self._namespace = namespace
        self._elements = [(name, f"{{{namespace}}}{name}", element)
                          for name, element in xsd_type.elements]

    def element(self, tag: str, values: Mapping[str, Any]) -> etree._Element:
        node = etree.Element(f"{{{self._namespace}}}{tag}")
        self.fill(node, values)
        return node

    def fill(self, node: etree._Element, values: Mapping[str, Any]) -> None:
        for name, qname, element in self._elements:
            value = values.get(name)
            if value is not None:
                etree.SubElement(node, qname).text = element.type.xmlvalue(value)
