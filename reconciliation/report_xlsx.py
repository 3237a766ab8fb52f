"""The report's workbook streamed to disk as SpreadsheetML: a cell costs a string, not an object.

Two ways in: ``SheetWriter.append`` formats one row of Python values (the small tables), and
``XlsxBook.add_frame_sheet`` takes whole rows already written by polars expressions
(``text_cell``, ``number_cell``: the discrepancies, a million rows formatted in Rust, column
by column, at a fraction of a microsecond a cell). Both spell a cell the same way.

openpyxl's write-only mode makes a Cell per value and an lxml element per cell, about 13 us a
cell: a million differing company fields are 16 million cells, minutes. This writer makes the
same workbook openpyxl's write-only mode makes (inline strings, numbers and dates as numbers
with a number format, a bold header, frozen first row, column widths, an autofilter with its
``_xlnm._FilterDatabase`` name) by formatting each row's cells as text and writing the sheet
straight into the zip, a sheet at a time. openpyxl still reads what it writes (the tests do),
and its own helpers spell numbers and dates (``safe_string``, ``to_excel``), so a value is
written exactly as openpyxl would write it.

Cells are typed by the caller (reconciliation.report_files): a plain value, or a ``Styled``
value that names its style (money, date, date and time, text kept as text).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape, quoteattr

import polars as pl

from openpyxl.compat.strings import safe_string
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.utils.datetime import to_excel

# Styles (cellXfs indexes in styles.xml below).
PLAIN, BOLD, MONEY, DAY, MOMENT, QUOTED = range(6)
# XML 1.0 cannot carry these control characters; openpyxl refuses them, the workbook drops them.
_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")


@dataclass(frozen=True)
class Styled:
    """A value with the style its cell needs (MONEY, DAY, MOMENT, QUOTED or BOLD)."""

    value: object
    style: int


# Text that needs more than copying: a character to escape or drop, or spaces at an end.
_SPECIAL = re.compile(r"[\000-\010\013-\037&<>]|^\s|\s\Z")
_CR = {"\r": "&#13;"}  # a parser reads a raw carriage return as a line feed


def _text_cell(ref: str, text: str, style: int) -> str:
    styled = f' s="{style}"' if style else ""
    if not text:
        return f'<c r="{ref}"{styled} t="inlineStr"/>'
    if _SPECIAL.search(text) is None:  # most text: one search, no copy
        return f'<c r="{ref}"{styled} t="inlineStr"><is><t>{text}</t></is></c>'
    if _ILLEGAL.search(text):
        text = _ILLEGAL.sub("", text)
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}"{styled} t="inlineStr"><is><t{space}>{escape(text, _CR)}</t></is></c>'


def cell_xml(ref: str, value: object) -> str:
    """One cell as SpreadsheetML; "" for None (not written). Empty text is an empty text
    cell, as openpyxl writes it."""
    style = PLAIN
    if type(value) is Styled:
        value, style = value.value, value.style
    if value is None:
        return ""
    if type(value) is str:
        return _text_cell(ref, value, style)
    if isinstance(value, date):
        return f'<c r="{ref}" s="{style}" t="n"><v>{safe_string(to_excel(value))}</v></c>'
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        styled = f' s="{style}"' if style else ""
        return f'<c r="{ref}"{styled} t="n"><v>{safe_string(value)}</v></c>'
    return _text_cell(ref, str(value), style)


@dataclass
class SheetWriter:
    """Rows appended to one sheet of an open book; ``close`` writes its autofilter."""

    stream: IO[bytes]
    columns: int
    rows: int = 0
    _letters: list[str] = field(default_factory=list)

    def append(self, values: Sequence[object]) -> None:
        self.rows += 1
        n = str(self.rows)
        letters = self._letters
        while len(letters) < len(values):
            letters.append(get_column_letter(len(letters) + 1))
        # plain text inline (most cells of a report); the rest through cell_xml
        cells = "".join([f'<c r="{letters[i]}{n}" t="inlineStr"><is><t>{v}</t></is></c>'
                         if type(v) is str and v and _SPECIAL.search(v) is None
                         else cell_xml(letters[i] + n, v) for i, v in enumerate(values)])
        self.stream.write(f'<row r="{n}">{cells}</row>'.encode())

    def close(self) -> str:
        """Ends the sheet; returns its autofilter's range (A1 to the last row)."""
        ref = f"A1:{get_column_letter(max(1, self.columns))}{max(1, self.rows)}"
        self.stream.write(f'</sheetData><autoFilter ref="{ref}"/>{_MARGINS}</worksheet>'.encode())
        self.stream.close()
        return ref


# The same spelling for a polars column: each expression gives the part of a cell after its
# reference (``<c r="B7"`` + body), or null for no cell.
_ILLEGAL_PATTERN = r"[\x00-\x08\x0B\x0C\x0E-\x1F]"


def text_cell(text: pl.Expr, quoted: pl.Expr | None = None) -> pl.Expr:
    """Text cells as ``_text_cell`` writes them: inline, escaped, control characters dropped,
    ``xml:space`` where spaces lead or trail, Excel's quote prefix where ``quoted`` holds."""
    dropped = text.str.replace_all(_ILLEGAL_PATTERN, "")
    clean = dropped.str.replace_many(["&", "<", ">", "\r"], ["&amp;", "&lt;", "&gt;", "&#13;"])
    space = pl.when(dropped.str.contains(r"^\s|\s$")).then(pl.lit(' xml:space="preserve"')).otherwise(pl.lit(""))
    style = pl.lit("") if quoted is None else pl.when(quoted).then(pl.lit(f' s="{QUOTED}"')).otherwise(pl.lit(""))
    body = pl.when(text == "").then(pl.lit('t="inlineStr"/>')).otherwise(
        pl.concat_str([pl.lit('t="inlineStr"><is><t'), space, pl.lit(">"), clean, pl.lit("</t></is></c>")]))
    return pl.concat_str([style, pl.lit(" "), body])  # null, no cell, where the text is null


def number_cell(number: pl.Expr, style: int = PLAIN) -> pl.Expr:
    """Number cells from their text (``safe_string``'s spelling, made by the caller)."""
    styled = f' s="{style}"' if style else ""
    return pl.concat_str([pl.lit(f'{styled} t="n"><v>'), number, pl.lit("</v></c>")])


def cell_body(value: object) -> str | None:
    """One Python value's cell after its reference (``cell_xml`` without ``<c r="..."``)."""
    xml = cell_xml("", value)
    return xml[len('<c r=""'):] if xml else None


def row_numbers(first_row: int) -> pl.Expr:
    """The ``_row`` column ``rows_xml`` reads: each row's number as text, from ``first_row``."""
    return (pl.int_range(pl.len()) + first_row).cast(pl.String).alias("_row")


def rows_xml(cells: list[pl.Expr]) -> pl.Expr:
    """Whole ``<row>`` elements from one body expression per column, numbered by ``_row``
    (``row_numbers``)."""
    n = pl.col("_row")
    refs = [pl.concat_str([pl.lit(f'<c r="{get_column_letter(i)}'), n, pl.lit('"'), body])
            for i, body in enumerate(cells, start=1)]
    return pl.concat_str([pl.lit('<row r="'), n, pl.lit('">'), *refs, pl.lit("</row>")], ignore_nulls=True)


class XlsxBook:
    """A workbook written sheet by sheet into ``path``; one sheet open at a time."""

    def __init__(self, path: Path) -> None:
        # level 1: most of a sheet is markup that any level squeezes; 6 costs 3x the time
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self._sheets: list[tuple[str, str]] = []  # (title, autofilter range)
        self._open: tuple[str, SheetWriter] | None = None

    def add_sheet(self, title: str, header: Sequence[str], widths: Sequence[float]) -> SheetWriter:
        """A new sheet with a bold, frozen header row and these column widths."""
        self._close_open()
        stream = self._zip.open(f"xl/worksheets/sheet{len(self._sheets) + 1}.xml", "w",
                                force_zip64=True)
        cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                       for i, w in enumerate(widths, start=1))
        cols = f"<cols>{cols}</cols>" if cols else ""
        stream.write(f"{_SHEET_HEAD}{cols}<sheetData>".encode())
        writer = SheetWriter(stream, len(header))
        writer.append([Styled(str(h), BOLD) for h in header])
        self._open = (title, writer)
        return writer

    def add_frame_sheet(self, title: str, header: Sequence[str], widths: Sequence[float],
                        rows: Iterator[tuple[bytes, int]]) -> None:
        """A sheet like ``add_sheet`` whose rows come as ready ``<row>`` elements (``rows_xml``,
        UTF-8), a chunk at a time: ``rows`` yields each chunk and its number of rows."""
        writer = self.add_sheet(title, header, widths)
        for chunk, count in rows:
            writer.stream.write(chunk)
            writer.rows += count

    def _close_open(self) -> None:
        if self._open is not None:
            title, writer = self._open
            self._sheets.append((title, writer.close()))
            self._open = None

    def save(self) -> None:
        self._close_open()
        sheets = self._sheets or [("Sheet", "")]
        if not self._sheets:  # a workbook needs a sheet
            with self._zip.open("xl/worksheets/sheet1.xml", "w") as empty:
                empty.write((_SHEET_HEAD + f"<sheetData/>{_MARGINS}</worksheet>").encode())
        files = {"[Content_Types].xml": _content_types(len(sheets)), "_rels/.rels": _ROOT_RELS,
                 "xl/workbook.xml": _workbook(sheets),
                 "xl/_rels/workbook.xml.rels": _book_rels(len(sheets)), "xl/styles.xml": _STYLES}
        for name, text in files.items():
            self._zip.writestr(name, text)
        self._zip.close()


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_SHEET_HEAD = (f'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="{_MAIN}">'
               '<sheetPr><outlinePr summaryBelow="1" summaryRight="1"/><pageSetUpPr/></sheetPr>'
               '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
               'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" '
               'activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
               '<sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>')
_MARGINS = '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
_ROOT_RELS = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="{_PKG}">'
              f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
              '</Relationships>')
_STYLES = (f'<?xml version="1.0" encoding="UTF-8"?>\n<styleSheet xmlns="{_MAIN}">'
           '<numFmts count="3"><numFmt numFmtId="164" formatCode="#,##0.00"/>'
           '<numFmt numFmtId="165" formatCode="d.m.yyyy"/>'
           '<numFmt numFmtId="166" formatCode="d.m.yyyy h:mm"/></numFmts>'
           '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
           '<font><b val="1"/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
           '<fills count="2"><fill><patternFill/></fill><fill><patternFill patternType="gray125"/>'
           '</fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/>'
           '</border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
           'borderId="0"/></cellStyleXfs><cellXfs count="6">'
           '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
           '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
           '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
           '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
           '</cellStyles></styleSheet>')


def _content_types(sheets: int) -> str:
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                        f'ContentType="{sheet_type}"/>' for i in range(1, sheets + 1))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Types xmlns="http://schemas.'
            'openxmlformats.org/package/2006/content-types"><Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
            f'officedocument.spreadsheetml.styles+xml"/>{overrides}</Types>')


def _workbook(sheets: list[tuple[str, str]]) -> str:
    listed = "".join(f'<sheet name={quoteattr(title)} sheetId="{i}" r:id="rId{i}"/>'
                     for i, (title, _) in enumerate(sheets, start=1))
    names = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
        f'{escape(quote_sheetname(title))}!{_absolute(ref)}</definedName>'
        for i, (title, ref) in enumerate(sheets) if ref)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            '<workbookPr/><bookViews><workbookView activeTab="0"/></bookViews>'
            f'<sheets>{listed}</sheets>'
            + (f"<definedNames>{names}</definedNames>" if names else "")
            + '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>')


def _absolute(ref: str) -> str:
    """A1:P91 -> $A$1:$P$91."""
    return ":".join(re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", part) for part in ref.split(":"))


def _book_rels(sheets: int) -> str:
    rels = "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" '
                   f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, sheets + 1))
    styles = f'<Relationship Id="rId{sheets + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="{_PKG}">'
            f"{rels}{styles}</Relationships>")
