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

Two kinds of table. A ``Table`` is rows of Python values (the summary, the findings: bounded
lists), written a row at a time. A ``FrameTable`` is a polars frame (the discrepancies, a row
per differing company field: a million at production size) whose CSV text and workbook cells
are polars expressions, evaluated a chunk of rows at a time: polars writes the CSV and the
rows' SpreadsheetML (reconciliation.report_xlsx) in Rust, column by column, and Python only
moves the chunks. Both kinds follow the same conventions, cell for cell. A table longer than a
sheet holds continues on "name (2)", "name (3)"...
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
import re
from itertools import chain, islice
from pathlib import Path

import polars as pl

from mappings.formulas import FORMULA_PREFIXES  # one list for the report and the import files
from reconciliation.report_format import MONEY_FIELDS, NUMBER_FIELDS, typed
from reconciliation.report_xlsx import (
    DAY,
    MOMENT,
    MONEY,
    QUOTED,
    SheetWriter,
    Styled,
    XlsxBook,
    cell_body,
    row_numbers,
    rows_xml,
    text_cell,
)

Value = str | int | float | Decimal | date | bool | None

SHEET_ROWS = 1_048_576  # Excel's limit, header included
CHUNK_ROWS = 25_000  # rows of a FrameTable formatted at a time (bounded text in memory)
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


@dataclass(frozen=True)
class FrameTable:
    """A table held as polars columns: ``csv`` and ``xlsx`` give, per column of ``header``, an
    expression over ``frame`` for its CSV text (``csv_text``; null for an empty cell) and its
    workbook cell (``report_xlsx.text_cell``, ``number_cell``; null for no cell)."""

    name: str
    header: Sequence[str]
    frame: pl.DataFrame
    csv: Sequence[pl.Expr]
    xlsx: Sequence[pl.Expr]


def formula_risk_expr(text: pl.Expr) -> pl.Expr:
    """``formula_risk`` for a column of text."""
    starts = text.str.contains("^[" + "".join(re.escape(p) for p in FORMULA_PREFIXES) + "]")
    return starts & ~text.str.contains(f"^(?:{_PLAIN_NUMBER.pattern})$")


def csv_text(text: pl.Expr) -> pl.Expr:
    """``csv_cell`` for a column of text: a leading apostrophe where a spreadsheet would run it;
    empty text as no value, so that the file reads ``a;;b`` as csv.writer writes it."""
    return (pl.when(formula_risk_expr(text)).then(pl.concat_str([pl.lit("'"), text]))
            .when(text == "").then(None).otherwise(text))


def xlsx_text(text: pl.Expr) -> pl.Expr:
    """A column of text as workbook cells: text, with Excel's quote prefix where it looks like
    a formula (never a formula: inline strings)."""
    return text_cell(text, formula_risk_expr(text))


# Czech numbers in E.164 whose international spelling is three groups of three digits
# (phonenumbers' metadata for CZ): polars spells them; every other phone goes to phonenumbers.
CZ_PHONE = r"^\+420([2-8]\d{2}|9[015-7]\d)(\d{3})(\d{3})$"


def spelled_once(frame: pl.DataFrame, column: str, spell: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """``spell(pl.col(column))`` for a column of few distinct values (a state, a rule), spelled
    once per value and looked up per row."""
    distinct = frame.get_column(column).unique().drop_nulls()
    spelled = pl.select(spell(pl.lit(distinct)).alias("spelled")).to_series()
    return pl.col(column).replace_strict(distinct, spelled, default=None, return_dtype=pl.String)


def typed_columns(frame: pl.DataFrame, field: str, columns: Sequence[str]) -> tuple[
        pl.DataFrame, dict[str, pl.Expr], dict[str, pl.Expr]]:
    """CSV text and workbook cells for columns holding values of the field named in column
    ``field``, typed as ``typed`` types them (money and numbers as numbers, a phone number
    spelled with spaces). Text is formatted by polars; a value that needs Python (money, a
    number, a phone outside the common Czech shape) is typed once per distinct value and
    joined back. Returns the frame with those columns added and the expressions per column."""
    python_kind = pl.col(field).is_in(sorted(MONEY_FIELDS | NUMBER_FIELDS)) | (
        (pl.col(field) == "phone") & pl.col("value").is_not_null() & ~pl.col("value").str.contains(CZ_PHONE))
    distinct = pl.concat([frame.select(pl.col(field), pl.col(c).alias("value")) for c in columns]).filter(
        python_kind & pl.col("value").is_not_null() & (pl.col("value") != "")).unique()
    typed_values = [typed(f, v) for f, v in distinct.iter_rows()]
    spelled = distinct.with_columns(
        csv=pl.Series([csv_cell(t) for t in typed_values], dtype=pl.String),  # type: ignore[arg-type]
        cell=pl.Series([cell_body(_cell(t)) for t in typed_values], dtype=pl.String))  # type: ignore[arg-type]
    csv_columns, cells = {}, {}
    for c in columns:
        frame = frame.join(spelled.rename({"value": c, "csv": f"{c}#csv", "cell": f"{c}#cell"}),
                           on=[field, c], how="left", maintain_order="left", nulls_equal=False)
        frame = frame.with_columns(  # once, not again in each expression that reads it
            pl.when(pl.col(field) == "phone").then(pl.col(c).str.replace(CZ_PHONE, "+420 $1 $2 $3"))
            .otherwise(pl.col(c)).alias(f"{c}#text"))
        csv_columns[c] = pl.coalesce(pl.col(f"{c}#csv"), csv_text(pl.col(f"{c}#text")))
        cells[c] = pl.coalesce(pl.col(f"{c}#cell"), xlsx_text(pl.col(f"{c}#text")))
    return frame, csv_columns, cells


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


def write_tables(directory: Path, tables: Iterable[Table | FrameTable], workbook: str = "report.xlsx",
                 sheet_rows: int = SHEET_ROWS) -> list[str]:
    """``<name>.csv`` per table and ``workbook`` holding them all; each table's rows are read once.
    Returns the CSV stems written."""
    book = XlsxBook(directory / workbook)
    names = []
    for table in tables:
        if isinstance(table, FrameTable):
            _write_frame(directory / f"{table.name}.csv", book, table, sheet_rows)
            names.append(table.name)
            continue
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


def _write_frame(path: Path, book: XlsxBook, table: FrameTable, sheet_rows: int) -> None:
    """The CSV file and the sheets of a frame, a chunk of rows at a time."""
    frame, per_sheet = table.frame, max(1, sheet_rows - 1)
    csv_columns = [e.alias(h) for e, h in zip(table.csv, table.header, strict=True)]
    with path.open("wb") as handle:
        for start in range(0, max(frame.height, 1), CHUNK_ROWS):
            # utf-8 with BOM and ';' is what Czech Excel opens without the import wizard.
            frame.slice(start, CHUNK_ROWS).select(csv_columns).write_csv(
                handle, separator=";", line_terminator="\r\n", quote_style="necessary",
                include_header=start == 0, include_bom=start == 0)
    sample = frame.head(WIDTH_SAMPLE).select(csv_columns)
    widths = [min(60, max([len(str(title)), *sample[title].fill_null("").str.len_chars()]) + 2)
              for title in table.header]
    for number, first in enumerate(range(0, max(frame.height, 1), per_sheet), start=1):
        title = table.name[:31] if number == 1 else f"{table.name[:24]} ({number})"
        part = frame.slice(first, per_sheet)
        book.add_frame_sheet(title, table.header, widths, _row_chunks(part, table.xlsx))


def _row_chunks(part: pl.DataFrame, cells: Sequence[pl.Expr]) -> Iterator[tuple[bytes, int]]:
    for start in range(0, part.height, CHUNK_ROWS):
        chunk = part.slice(start, CHUNK_ROWS)
        # row 1 is the header; a chunk's rows are numbered on from the rows before it
        text = (chunk.with_columns(row_numbers(start + 2))
                .select(rows_xml(list(cells)).str.join("").cast(pl.Binary)).item())
        yield text, chunk.height


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
