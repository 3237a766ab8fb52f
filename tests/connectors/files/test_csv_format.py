"""The streaming CSV reader and writer: every row comes out as a record or a reject."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.base import RawRecord, RejectedRow
from connectors.files.csv_format import FileFormat, encodable, read_rows, write_rows
from mappings.spec import load_spec

ERP = FileFormat(encoding="cp1250", delimiter=";")
HEADER = "PARTNER_ID;NAZEV;UVEROVY_LIMIT\r\n"


def _split(items: list) -> tuple[list[RawRecord], list[RejectedRow]]:
    return ([i for i in items if isinstance(i, RawRecord)],
            [i for i in items if isinstance(i, RejectedRow)])


def test_round_trip_keeps_diacritics_delimiters_and_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    rows = [{"PARTNER_ID": "P1", "NAZEV": "Dvořák a syn; s.r.o.", "UVEROVY_LIMIT": "150000,50"},
            {"PARTNER_ID": "P2", "NAZEV": "Řádek\r\ndruhý", "UVEROVY_LIMIT": None},
            {"PARTNER_ID": "P3", "NAZEV": "Žluťoučký kůň", "UVEROVY_LIMIT": 7}]
    assert write_rows(path, ERP, ["PARTNER_ID", "NAZEV", "UVEROVY_LIMIT"], rows) == 3
    assert "Dvořák".encode("cp1250") in path.read_bytes()

    records, rejects = _split(list(read_rows(path, ERP, "PARTNER_ID")))
    assert rejects == []
    assert [r.record_id for r in records] == ["P1", "P2", "P3"]
    assert records[0].payload == {"PARTNER_ID": "P1", "NAZEV": "Dvořák a syn; s.r.o.",
                                  "UVEROVY_LIMIT": "150000,50"}
    assert records[1].payload["NAZEV"] == "Řádek\r\ndruhý"
    assert records[1].payload["UVEROVY_LIMIT"] == ""
    # physical line numbers: P2 spans lines 3-4, so P3 starts on line 5
    assert [r.location for r in records] == [
        "customers.csv:2", "customers.csv:3", "customers.csv:5"]


def test_cp1250_read_as_utf8_gives_line_numbered_rejects_not_garbage() -> None:
    data = (HEADER + "P1;Novak;10\r\nP2;Dvořák s.r.o.;20\r\nP3;Beta;30\r\n").encode("cp1250")
    fmt = FileFormat(encoding="utf-8", delimiter=";")
    items = list(read_rows(io.BytesIO(data), fmt, "PARTNER_ID", source_name="x.csv"))
    records, rejects = _split(items)
    assert [r.record_id for r in records] == ["P1", "P3"]
    assert len(rejects) == 1
    assert rejects[0].location == "x.csv:3"
    assert rejects[0].raw.startswith("P2;Dvo") and "not utf-8" in rejects[0].reason
    assert [getattr(i, "record_id", None) or i.location for i in items] == ["P1", "x.csv:3", "P3"]


def test_wrong_column_count_is_a_rejected_row_and_reading_goes_on() -> None:
    data = (HEADER + "P1;A;1\r\nP2;B;2;extra\r\nP3\r\n\r\nP4;D;4\r\n").encode("cp1250")
    records, rejects = _split(list(read_rows(io.BytesIO(data), ERP, "PARTNER_ID",
                                             source_name="f.csv")))
    assert [r.record_id for r in records] == ["P1", "P4"]
    assert [(r.location, r.raw) for r in rejects] == [
        ("f.csv:3", "P2;B;2;extra"), ("f.csv:4", "P3")]
    assert "4 columns where the header has 3" in rejects[0].reason


def test_empty_id_is_rejected() -> None:
    data = (HEADER + " ;A;1\r\n").encode()
    [reject] = list(read_rows(io.BytesIO(data), FileFormat(delimiter=";"), "PARTNER_ID"))
    assert isinstance(reject, RejectedRow) and reject.reason == "empty PARTNER_ID"


def test_header_without_id_column_rejects_the_file_as_one_unit() -> None:
    data = b"ID;NAZEV\r\nP1;A\r\n"
    [reject] = list(read_rows(io.BytesIO(data), ERP, "PARTNER_ID", source_name="f.csv"))
    assert isinstance(reject, RejectedRow)
    assert reject.location == "f.csv:1" and reject.raw == "ID;NAZEV"


def test_utf8_sig_strips_the_byte_order_mark(tmp_path: Path) -> None:
    fmt = FileFormat(encoding="utf-8-sig")
    path = tmp_path / "bom.csv"
    write_rows(path, fmt, ["id", "name"], [{"id": "1", "name": "Škoda"}])
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    [record] = list(read_rows(path, fmt, "id"))
    assert record.payload == {"id": "1", "name": "Škoda"}


def test_headerless_format_uses_declared_columns() -> None:
    fmt = FileFormat(header=False, columns=("id", "name"))
    [record] = list(read_rows(io.BytesIO(b"7,Acme\n"), fmt, "id"))
    assert record.record_id == "7" and record.location == "stream:1"


def test_format_is_validated() -> None:
    with pytest.raises(ValidationError):
        FileFormat(header=False)
    with pytest.raises(ValidationError):
        FileFormat(encoding="latin-1")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        FileFormat(delimiter=";;")


def test_encodable() -> None:
    assert encodable(ERP, "Dvořák") and not encodable(ERP, "smile 🙂")


@pytest.mark.parametrize("cell", [Decimal("150000.50"), 150000.5, date(2026, 1, 31), True])
def test_the_writer_refuses_a_value_no_spec_has_spelled(tmp_path: Path, cell: object) -> None:
    """"150000.50" or "150000,50"? The spec decides (mappings.writeback), never the writer."""
    with pytest.raises(TypeError, match="spelled by the system's spec"):
        write_rows(tmp_path / "x.csv", ERP, ["PARTNER_ID", "UVEROVY_LIMIT"],
                   [{"PARTNER_ID": "P1", "UVEROVY_LIMIT": cell}])


def test_one_file_format_for_the_spec_and_the_connector() -> None:
    """The spec's ``format:`` is the very type the reader and writer take (core.formats)."""
    fmt = load_spec("erp").format
    assert type(fmt) is FileFormat
    assert (fmt.encoding, fmt.delimiter, fmt.decimal_comma) == ("cp1250", ";", True)


def test_a_decimal_comma_needs_another_delimiter() -> None:
    with pytest.raises(ValidationError, match="decimal comma"):
        FileFormat(decimal_comma=True)
    with pytest.raises(ValidationError, match="strftime"):
        FileFormat(date_format="DD.MM.YYYY")
