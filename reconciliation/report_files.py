"""Report tables as files a spreadsheet opens safely: CSV for Czech Excel, and one XLSX workbook.

One convention for every CSV file: UTF-8 with BOM, ``;`` between cells, a decimal comma and no
thousands separator (``150000,50``), dates as ISO ``2026-11-24``: Czech Excel opens such a file
by double click and reads the numbers and dates as numbers and dates.

CSV injection (OWASP): a cell that starts with =, +, -, @, a tab or a carriage return may be run
as a formula by Excel or LibreOffice, so such text gets a leading apostrophe in CSV, unless
it is a plain number or phone number (``+420 601 234 567``, ``-5``): digits, spaces, brackets,
dots, slashes and dashes are arithmetic at worst and never call a function or a program, and
an apostrophe in front of every phone number is what a reader would see. In the workbook no
text is escaped: cells are typed (text as text, money as numbers with a number format, dates as
dates), and formula-like text is stored as a string with Excel's hidden quote prefix.

The rows of a table may be a one-shot stream (a million discrepancies read from the store):
each table is read once and written to its CSV file and to its sheets side by side, the
workbook in openpyxl's write-only mode (rows go to disk as they come, cell styles only where
a cell needs one). A table longer than a sheet holds continues on "name (2)", "name (3)"...
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
import re
from itertools import chain, islice
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from mappings.formulas import FORMULA_PREFIXES  # one list for the report and the import files

Value = str | int | float | Decimal | date | bool | None

SHEET_ROWS = 1_048_576  # Excel's limit, header included
WIDTH_SAMPLE = 500  # rows read ahead to size the columns (write-only sheets size them first)
_BOLD = Font(bold=True)
MONEY_FORMAT = "#,##0.00"  # Excel shows it in the reader's own separators: 150 000,50 in Czech
DATE_FORMAT = "d.m.yyyy"
DATETIME_FORMAT = "d.m.yyyy h:mm"
# A number or phone number: a leading + or - with only these after it runs no function.
_PLAIN_NUMBER = re.compile(r"[+-]?\(?\d[\d ().,/-]*")


@dataclass(frozen=True)
class Table:
    """One CSV file and one sheet (or more, past SHEET_ROWS) of the workbook."""

    name: str  # file stem and sheet title
    header: Sequence[str]
    rows: Iterable[Sequence[Value]]  # may be read only once


def formula_risk(text: str) -> bool:
    """Whether a spreadsheet could run ``text`` as a formula that calls something."""
    return text.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(text)


def safe_cell(value: object) -> str:
    """Text for a CSV cell; a leading apostrophe makes a formula-like cell plain text."""
    text = "" if value is None else str(value)
    return "'" + text if formula_risk(text) else text


def csv_cell(value: Value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        value = Decimal(str(value))  # 70.0, not 70.000000
    if isinstance(value, Decimal):
        return format(value, "f").replace(".", ",")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
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
    """What write-only mode appends: plain values as they are; money, dates and text that
    starts like a formula as cells with a number format or a forced type."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, Decimal | date):
        # Excel has no time zones: a stored time (UTC) is written as it reads, without its zone.
        cell = WriteOnlyCell(sheet, value=value.replace(tzinfo=None) if isinstance(value, datetime) else value)
        cell.number_format = (MONEY_FORMAT if isinstance(value, Decimal) else
                              DATETIME_FORMAT if isinstance(value, datetime) else DATE_FORMAT)
        return cell
    text = str(value)
    if not text.startswith(FORMULA_PREFIXES):
        return text
    # openpyxl stores any string that starts with "=" as a formula; forcing the string type
    # keeps the text exactly as it was, and Excel's quote prefix (never shown in the cell)
    # keeps an edit of a formula-like cell from turning it into one.
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    cell.quotePrefix = formula_risk(text)
    return cell


def _widths(header: Sequence[str], sample: Sequence[Sequence[Value]]) -> list[int]:
    return [min(60, max([len(str(title))] + [len(str(r[i] if r[i] is not None else "")) for r in sample]) + 2)
            for i, title in enumerate(header)]
