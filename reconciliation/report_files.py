"""Report tables as files a spreadsheet opens safely: CSV for Czech Excel, and one XLSX workbook.

A cell that starts with =, +, -, @, a tab or a carriage return would be read as a formula by
Excel or LibreOffice (CSV injection), so such text is escaped in both formats. Numbers stay
numbers in the workbook; in CSV they use the decimal comma that Czech Excel reads as a number.

The rows of a table may be a one-shot stream (a million discrepancies read from the store):
each table is read once and written to its CSV file and to its sheets side by side, the
workbook in openpyxl's write-only mode (rows go to disk as they come, cell styles only where
a cell needs one). A table longer than a sheet holds continues on "name (2)", "name (3)"...
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain, islice
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from mappings.formulas import FORMULA_PREFIXES  # one list for the report and the import files

Value = str | int | float | Decimal | bool | None

SHEET_ROWS = 1_048_576  # Excel's limit, header included
WIDTH_SAMPLE = 500  # rows read ahead to size the columns (write-only sheets size them first)
_BOLD = Font(bold=True)


@dataclass(frozen=True)
class Table:
    """One CSV file and one sheet (or more, past SHEET_ROWS) of the workbook."""

    name: str  # file stem and sheet title
    header: Sequence[str]
    rows: Iterable[Sequence[Value]]  # may be read only once


def safe_cell(value: object) -> str:
    """Text for a CSV cell; a leading apostrophe makes a formula-like cell plain text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_cell(value: Value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal | float):
        return format(value, "f").replace(".", ",")
    return safe_cell(value)


def write_tables(directory: Path, tables: Iterable[Table], workbook: str = "report.xlsx",
                 sheet_rows: int = SHEET_ROWS) -> list[str]:
    """``<name>.csv`` per table and ``workbook`` holding them all; each table's rows are read once.
    Returns the CSV stems written."""
    book = Workbook(write_only=True)
    names = []
    for table in tables:
        with (directory / f"{table.name}.csv").open("w", encoding="utf-8-sig", newline="") as handle:
            # utf-8 with BOM and ';' is what Czech Excel opens without the import wizard.
            writer = csv.writer(handle, delimiter=";")
            writer.writerow([safe_cell(h) for h in table.header])
            rows = _teed(table.rows, lambda row, w=writer: w.writerow([csv_cell(v) for v in row]))
            _write_sheets(book, table, rows, sheet_rows)
        names.append(table.name)
    book.save(directory / workbook)
    return names


def _teed(rows: Iterable[Sequence[Value]], also) -> Iterator[Sequence[Value]]:  # type: ignore[no-untyped-def]
    for row in rows:
        also(row)
        yield row


def _write_sheets(book: Workbook, table: Table, rows: Iterator[Sequence[Value]], sheet_rows: int) -> None:
    """The table on as many sheets as it needs, each with the header, the columns sized from
    the first rows, the header frozen and an autofilter."""
    per_sheet = max(1, sheet_rows - 1)
    sample = list(islice(rows, WIDTH_SAMPLE))
    widths = _widths(table.header, sample)
    rest = chain(sample, rows)
    number = 1
    while True:
        chunk = islice(rest, per_sheet)
        first = next(chunk, None)
        if first is None and number > 1:
            return
        title = table.name[:31] if number == 1 else f"{table.name[:24]} ({number})"
        sheet = _new_sheet(book, title, table.header, widths)
        written = 0
        for row in chain([first], chunk) if first is not None else ():
            sheet.append([_cell(sheet, v) for v in row])
            written += 1
        sheet.auto_filter.ref = f"A1:{get_column_letter(max(1, len(table.header)))}{written + 1}"
        if written < per_sheet:
            return
        number += 1


def _new_sheet(book: Workbook, title: str, header: Sequence[str], widths: list[int]) -> WriteOnlyWorksheet:
    sheet = book.create_sheet(title=title)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    cells = []
    for title_text in header:
        cell = WriteOnlyCell(sheet, value=str(title_text))
        cell.font = _BOLD
        cells.append(cell)
    sheet.append(cells)
    return sheet


def _cell(sheet: WriteOnlyWorksheet, value: Value) -> object:
    """What write-only mode appends: plain values as they are, formula-like text as a styled cell."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    if not text.startswith(FORMULA_PREFIXES):
        return text
    # openpyxl stores any string that starts with "=" as a formula; forcing the string type
    # and Excel's quote prefix keeps the text exactly as it was and never evaluates it.
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def _widths(header: Sequence[str], sample: Sequence[Sequence[Value]]) -> list[int]:
    return [min(60, max([len(str(title))] + [len(str(r[i] if r[i] is not None else "")) for r in sample]) + 2)
            for i, title in enumerate(header)]
