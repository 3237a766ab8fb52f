"""The report's streamed workbook reads back as openpyxl's write-only mode wrote the same cells."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell

from reconciliation.report_files import DATE_FORMAT, DATETIME_FORMAT, MONEY_FORMAT
from reconciliation.report_xlsx import DAY, MOMENT, MONEY, QUOTED, Styled, XlsxBook

TEXTS = ["Hlavní 1", " leading", "trailing ", "a & b <c> \"d\" 'e'", "line\r\nbreak\ttab",
         "", "=HYPERLINK(\"x\")", "ŠČŘ žluťoučký kůň", "x" * 300]
FORMATS = {MONEY: MONEY_FORMAT, DAY: DATE_FORMAT, MOMENT: DATETIME_FORMAT}


def _rows() -> list[list[object]]:
    return [[text, n, n * 1.5, None, Styled(Decimal("150000.50") + n, MONEY),
             Styled(date(2026, 11, 24), DAY), Styled(datetime(2026, 12, 7, 2, 30), MOMENT),
             Styled(text, QUOTED)] for n, text in enumerate(TEXTS)]


def _openpyxl_book(path: Path) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("t")
    sheet.append(["a", "b"])
    for row in _rows():
        cells = []
        for value in row:
            if isinstance(value, Styled):
                cell = WriteOnlyCell(sheet, value=value.value)
                if value.style == QUOTED:
                    cell.data_type, cell.quotePrefix = "s", True
                else:
                    cell.number_format = FORMATS[value.style]
                value = cell
            elif isinstance(value, str):  # as the report did: text is text, never a formula
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                value = cell
            cells.append(value)
        sheet.append(cells)
    book.save(path)


def _ours(path: Path) -> None:
    book = XlsxBook(path)
    sheet = book.add_sheet("t", ["a", "b"], [10, 12])
    for row in _rows():
        sheet.append(row)
    book.save()


def _cells(path: Path) -> list[tuple[object, ...]]:
    sheet = load_workbook(path)["t"]
    return [(c.coordinate, c.value, c.data_type, c.number_format, c.quotePrefix)
            for row in sheet.iter_rows(min_row=2) for c in row]


def test_cells_read_back_as_openpyxl_wrote_them(tmp_path: Path) -> None:
    _openpyxl_book(tmp_path / "openpyxl.xlsx")
    _ours(tmp_path / "ours.xlsx")
    assert _cells(tmp_path / "ours.xlsx") == _cells(tmp_path / "openpyxl.xlsx")


def test_header_is_bold_and_frozen_with_an_autofilter_over_every_row(tmp_path: Path) -> None:
    _ours(tmp_path / "ours.xlsx")
    sheet = load_workbook(tmp_path / "ours.xlsx")["t"]
    assert (sheet["A1"].font.b, sheet["B1"].font.b, sheet["A2"].font.b) == (True, True, False)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:B{len(TEXTS) + 1}"
    assert sheet.column_dimensions["B"].width == 12


def test_control_characters_xml_cannot_carry_are_dropped_not_fatal(tmp_path: Path) -> None:
    book = XlsxBook(tmp_path / "x.xlsx")
    book.add_sheet("t", ["a"], [10]).append(["Firma\x01 s.r.o.\x1f"])
    book.save()
    assert load_workbook(tmp_path / "x.xlsx")["t"]["A2"].value == "Firma s.r.o."


def test_a_book_without_tables_still_opens(tmp_path: Path) -> None:
    XlsxBook(tmp_path / "empty.xlsx").save()
    assert load_workbook(tmp_path / "empty.xlsx").sheetnames == ["Sheet"]
