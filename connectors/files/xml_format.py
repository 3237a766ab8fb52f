"""The partner XML format: read streamed, with DTDs and entities forbidden; written streamed.

The format (one file = one export, the XML declaration names the encoding)::

    <?xml version="1.0" encoding="windows-1250"?>
    <partners>
      <partner>
        <PARTNER_ID>P1</PARTNER_ID>
        <NAZEV>Dvořák a syn s.r.o.</NAZEV>
        <UVEROVY_LIMIT>150000,50</UVEROVY_LIMIT>
      </partner>
    </partners>

Each ``partner`` holds one element per field, named like the CSV column, text only; an
empty or missing element is an empty value. A ``partner`` with a nested element, a field
given twice or no id is a RejectedRow with its line number; reading goes on. A file with
a DOCTYPE (and so any entity declaration) or that is not well-formed is rejected as a
whole (``UnreadableFile``): lxml runs with ``resolve_entities=False``, ``no_network=True``
and ``load_dtd=False``, and the DOCTYPE check happens before the first partner is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

from lxml import etree

from connectors.base import RawRecord, RejectedRow
from connectors.files.csv_format import FileFormat, UnreadableFile, cell_text

ROOT, RECORD = "partners", "partner"
_RAW_LIMIT = 2000  # characters of a rejected partner's XML kept for the quarantine


def read_xml(source: IO[bytes] | Path | str, id_column: str, *,
             source_name: str) -> Iterator[RawRecord | RejectedRow]:
    """Stream ``partner`` elements as RawRecords (payload = {field: str}) and RejectedRows."""
    events = etree.iterparse(
        source if not isinstance(source, Path) else str(source), events=("start", "end"),
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
        remove_comments=True, remove_pis=True)
    try:
        yield from _partners(events, id_column, source_name)
    except etree.XMLSyntaxError as e:
        line = e.position[0] if e.position else 0
        yield UnreadableFile(raw="", location=f"{source_name}:{line}",
                             reason=f"not well-formed XML: {e.msg}"[:300])


def _partners(events: Iterable[tuple[str, etree._Element]], id_column: str,
              name: str) -> Iterator[RawRecord | RejectedRow]:
    started = False
    for event, elem in events:
        if not started:
            started = True
            refusal = _refuse_root(elem, name)
            if refusal is not None:
                yield refusal
                return
            continue
        if event == "end" and elem.tag == RECORD and elem.getparent() is not None \
                and elem.getparent().getparent() is None:
            yield _record(elem, id_column, name)
            _forget(elem)


def _refuse_root(root: etree._Element, name: str) -> UnreadableFile | None:
    doctype = root.getroottree().docinfo.doctype
    if doctype:  # entities can only be declared in a DTD: no DTD, no entity tricks
        return UnreadableFile(raw=doctype[:_RAW_LIMIT], location=f"{name}:1",
                              reason="a DOCTYPE is forbidden in partner XML (DTDs and "
                                     "entities are not accepted)")
    if root.tag != ROOT:
        return UnreadableFile(raw=f"<{root.tag}>", location=f"{name}:{root.sourceline}",
                              reason=f"the root element is <{root.tag}>, not <{ROOT}>")
    return None


def _record(elem: etree._Element, id_column: str, name: str) -> RawRecord | RejectedRow:
    location = f"{name}:{elem.sourceline}"
    problem, payload = _fields(elem)
    if problem is None and not payload.get(id_column, "").strip():
        problem = f"empty {id_column}"
    if problem is not None:
        raw = etree.tostring(elem, encoding="unicode")[:_RAW_LIMIT]
        return RejectedRow(raw=raw, reason=problem, location=location)
    return RawRecord(record_id=payload[id_column].strip(), payload=payload, location=location)


def _fields(elem: etree._Element) -> tuple[str | None, dict[str, str]]:
    payload: dict[str, str] = {}
    for child in elem:
        if not isinstance(child.tag, str):  # an unresolved entity reference or the like
            return "an entity reference in a partner", payload
        if len(child) or child.attrib:
            return f"<{child.tag}> must hold text only", payload
        if child.tag in payload:
            return f"<{child.tag}> given twice", payload
        payload[child.tag] = child.text or ""
    return None, payload


def _forget(elem: etree._Element) -> None:
    """Drop what has been read, so a 1 GB file needs the memory of one partner."""
    elem.clear()
    parent = elem.getparent()
    while elem.getprevious() is not None and parent is not None:
        del parent[0]


def write_xml(path: Path | str, fmt: FileFormat, columns: list[str],
              rows: Iterable[Mapping[str, object]]) -> int:
    """Write ``rows`` as partner XML in ``fmt.encoding``; an empty value is left out."""
    encoding = "windows-1250" if fmt.encoding == "cp1250" else "utf-8"
    count = 0
    with etree.xmlfile(str(path), encoding=encoding) as xf:
        xf.write_declaration()
        with xf.element(ROOT):
            for row in rows:
                xf.write(_element(columns, row), pretty_print=True)
                count += 1
    return count


def _element(columns: list[str], row: Mapping[str, object]) -> etree._Element:
    partner = etree.Element(RECORD)
    for column in columns:
        text = cell_text(row.get(column))
        if text:
            etree.SubElement(partner, column).text = text
    return partner
