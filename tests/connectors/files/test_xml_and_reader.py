"""Partner XML (safe, streamed) and the file verdict (assess) that refuses garbage files."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from connectors.base import RawRecord, RejectedRow
from connectors.files import FileFormat, UnreadableFile, assess, read_records, write_records
from connectors.files.xml_format import read_xml

XML_FMT = FileFormat(type="xml", encoding="cp1250")
PARTNERS = ('<?xml version="1.0" encoding="windows-1250"?>\n<partners>\n'
            "  <partner>\n    <PARTNER_ID>P1</PARTNER_ID>\n    <NAZEV>Žluťoučký kůň</NAZEV>\n"
            "  </partner>\n"
            "  <partner><PARTNER_ID>P2</PARTNER_ID><NAZEV><b>x</b></NAZEV></partner>\n"
            "  <partner><NAZEV>no id</NAZEV></partner>\n"
            "  <partner><PARTNER_ID>P4</PARTNER_ID><NAZEV>a</NAZEV><NAZEV>b</NAZEV></partner>\n"
            "  <partner><PARTNER_ID>P5</PARTNER_ID></partner>\n</partners>\n")
LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE partners [\n <!ENTITY a "aaaaaaaaaa">\n'
          ' <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">\n]>\n'
          "<partners><partner><PARTNER_ID>&c;</PARTNER_ID></partner></partners>\n")


def _write(tmp_path: Path, text: str, encoding: str = "cp1250") -> Path:
    path = tmp_path / "customers.xml"
    path.write_bytes(text.encode(encoding))
    return path


def test_partner_xml_gives_records_and_line_numbered_rejects(tmp_path: Path) -> None:
    items = list(read_xml(_write(tmp_path, PARTNERS), "PARTNER_ID", source_name="c.xml"))
    records = [i for i in items if isinstance(i, RawRecord)]
    rejects = [i for i in items if isinstance(i, RejectedRow)]
    assert [(r.record_id, r.payload, r.location) for r in records] == [
        ("P1", {"PARTNER_ID": "P1", "NAZEV": "Žluťoučký kůň"}, "c.xml:3"),
        ("P5", {"PARTNER_ID": "P5"}, "c.xml:10")]
    assert [(r.location, r.reason) for r in rejects] == [
        ("c.xml:7", "<NAZEV> must hold text only"), ("c.xml:8", "empty PARTNER_ID"),
        ("c.xml:9", "<NAZEV> given twice")]


def test_a_dtd_is_refused_before_any_entity_is_expanded(tmp_path: Path) -> None:
    [item] = list(read_xml(_write(tmp_path, LAUGHS, "utf-8"), "PARTNER_ID", source_name="x"))
    assert isinstance(item, UnreadableFile) and "DOCTYPE is forbidden" in item.reason


def test_an_external_entity_is_never_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    xxe = (f'<?xml version="1.0"?>\n<!DOCTYPE p [<!ENTITY x SYSTEM "file://{secret}">]>\n'
           "<partners><partner><PARTNER_ID>&x;</PARTNER_ID></partner></partners>\n")
    items = list(read_xml(_write(tmp_path, xxe, "utf-8"), "PARTNER_ID", source_name="x"))
    assert all("TOP SECRET" not in repr(i) for i in items)
    assert isinstance(items[0], UnreadableFile)


def test_broken_xml_rejects_the_file_with_the_line(tmp_path: Path) -> None:
    text = PARTNERS.replace("</partner>\n  <partner><PARTNER_ID>P2", "\n  <partner><PARTNER_ID>P2")
    items = list(read_xml(_write(tmp_path, text), "PARTNER_ID", source_name="c.xml"))
    assert isinstance(items[-1], UnreadableFile) and "not well-formed" in items[-1].reason
    verdict = assess(tmp_path / "customers.xml", XML_FMT, "PARTNER_ID", source_name="c.xml",
                     max_bad_share=1.0)
    assert verdict.refusal is not None and "not well-formed" in verdict.refusal


def test_xml_round_trip_in_cp1250(tmp_path: Path) -> None:
    path = tmp_path / "import.xml"
    assert write_records(path, XML_FMT, ["PARTNER_ID", "NAZEV", "ICO"],
                         [{"PARTNER_ID": "P1", "NAZEV": "Dvořák & syn <s.r.o.>", "ICO": None}]) == 1
    assert b"encoding='windows-1250'" in path.read_bytes()[:60]
    [record] = list(read_records(path, XML_FMT, "PARTNER_ID", source_name="i.xml"))
    assert record.payload == {"PARTNER_ID": "P1", "NAZEV": "Dvořák & syn <s.r.o.>"}


def _peak_while_reading(path: Path, fmt: FileFormat) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_records(path, fmt, "PARTNER_ID", source_name="big"))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_big_files_are_streamed_in_bounded_memory(tmp_path: Path) -> None:
    """~1.5 MB of XML and of CSV: held at once, either would need over 5 MB of objects."""
    rows = [{"PARTNER_ID": f"P{n}", "NAZEV": f"Dvořák a syn {n} " + "x" * 60} for n in range(12_000)]
    xml, csv = tmp_path / "big.xml", tmp_path / "big.csv"
    write_records(xml, XML_FMT, ["PARTNER_ID", "NAZEV"], rows)
    csv_fmt = FileFormat(encoding="cp1250", delimiter=";")
    write_records(csv, csv_fmt, ["PARTNER_ID", "NAZEV"], rows)
    for path, fmt in ((xml, XML_FMT), (csv, csv_fmt)):
        count, peak = _peak_while_reading(path, fmt)
        assert count == 12_000 and peak < 1_000_000, (path.name, peak)


def test_assess_refuses_past_the_share_and_knows_when_ids_are_complete(tmp_path: Path) -> None:
    fmt = FileFormat(encoding="utf-8", delimiter=";")
    path = tmp_path / "c.csv"
    path.write_bytes("ID;N\r\nP1;a\r\nP2;b\r\nP3;c;extra\r\n".encode())
    ok = assess(path, fmt, "ID", source_name="c.csv", max_bad_share=0.5)
    assert (ok.records, ok.rejects, ok.refusal, ok.ids_complete) == (2, 1, None, False)
    refused = assess(path, fmt, "ID", source_name="c.csv", max_bad_share=0.2)
    assert refused.refusal and "1 of 3 rows unreadable (33%)" in refused.refusal
    assert "c.csv:4: 3 columns where the header has 2" in refused.refusal
    path.write_bytes(b"ID;N\r\nP1;a\r\n")
    assert assess(path, fmt, "ID", source_name="c.csv", max_bad_share=0).ids_complete
