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
workbook as SpreadsheetML text streamed into its zip (reconciliation.report_xlsx: rows go to
disk as they come, cell styles only where a cell needs one). A table longer than a sheet holds continues on "name (2)", "name (3)"...
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

from mappings.formulas import FORMULA_PREFIXES  # one list for the report and the import files
from reconciliation.report_xlsx import DAY, MOMENT, MONEY, QUOTED, SheetWriter, Styled, XlsxBook

Value = str | int | float | Decimal | date | bool | None

SHEET_ROWS = 1_048_576  # Excel's limit, header included
WIDTH_SAMPLE = 500  # rows read ahead to size the columns (write-only sheets size them first)
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
    if type(value) is str:  # most cells: text that starts no formula
        return "'" + value if value.startswith(FORMULA_PREFIXES) and formula_risk(value) else value
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
    book = XlsxBook(directory / workbook)
    names = []
    for table in tables:
        with (directory / f"{table.name}.csv").open("w", encoding="utf-8-sig", newline="") as handle:
            # utf-8 with BOM and ';' is what Czech Excel opens without the import wizard.
            writer = csv.writer(handle, delimiter=";")
            writer.writerow([safe_cell(h) for h in table.header])
            rows = _teed(table.rows, lambda row, w=writer: w.writerow(
                [v if type(v) is str and not v.startswith(FORMULA_PREFIXES) else csv_cell(v)
                 for v in row]))  # text that starts no formula, most cells, as it is
            _write_sheets(book, table, rows, sheet_rows)
        names.append(table.name)
    book.save()
    return names


def _teed(rows: Iterable[Sequence[Value]], also) -> Iterator[Sequence[Value]]:  # type: ignore[no-untyped-def]
    for row in rows:
        also(row)
        yield row


def _write_sheets(book: XlsxBook, table: Table, rows: Iterator[Sequence[Value]], sheet_rows: int) -> None:
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
        sheet: SheetWriter = book.add_sheet(title, table.header, widths)
        written = 0
        for row in chain([first], chunk) if first is not None else ():
            sheet.append([v if type(v) is str and not v.startswith(FORMULA_PREFIXES) else _cell(v)
                          for v in row])
            written += 1
        if written < per_sheet:
            return
        number += 1


def _cell(value: Value) -> object:
    """A value as the workbook holds it: plain values as they are; money, dates and text that
    starts like a formula with the style they need."""
    if type(value) is str:
        if not value.startswith(FORMULA_PREFIXES):
            return value
    elif isinstance(value, bool):
        return "yes" if value else "no"
    elif value is None or isinstance(value, int | float):
        return value
    elif isinstance(value, Decimal):
        return Styled(value, MONEY)
    elif isinstance(value, datetime):
        # Excel has no time zones: a stored time (UTC) is written as it reads, without its zone.
        return Styled(value.replace(tzinfo=None), MOMENT)
    elif isinstance(value, date):
        return Styled(value, DAY)
    text = str(value)
    # Text is never read as a formula in the workbook (inline strings); Excel's quote prefix
    # (never shown in the cell) keeps an edit of a formula-like cell from turning it into one.
    return Styled(text, QUOTED) if formula_risk(text) else text


def _widths(header: Sequence[str], sample: Sequence[Sequence[Value]]) -> list[int]:
    return [min(60, max([len(str(title))] + [len(str(r[i] if r[i] is not None else "")) for r in sample]) + 2)
            for i, title in enumerate(header)]
