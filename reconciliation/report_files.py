"""Report tables as files a spreadsheet opens safely: CSV for Czech Excel, and one XLSX workbook.

A cell that starts with =, +, -, @, a tab or a carriage return would be read as a formula by
Excel or LibreOffice (CSV injection), so such text is escaped in both formats. Numbers stay
numbers in the workbook; in CSV they use the decimal comma that Czech Excel reads as a number.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from mappings.formulas import FORMULA_PREFIXES  # one list for the report and the import files

Value = str | int | float | Decimal | bool | None


@dataclass(frozen=True)
class Table:
    """One sheet of the workbook and one CSV file."""

    name: str  # file stem and sheet title
    header: Sequence[str]
    rows: Sequence[Sequence[Value]]


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


def write_csv(path: Path, table: Table) -> Path:
    # utf-8 with BOM and ';' is what Czech Excel opens without the import wizard.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow([safe_cell(h) for h in table.header])
        writer.writerows([csv_cell(v) for v in row] for row in table.rows)
    return path


def write_xlsx(path: Path, tables: Sequence[Table]) -> Path:
    book = Workbook()
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(title=table.name[:31])
        sheet.append(list(table.header))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([None] * len(row))
            for column, value in enumerate(row, start=1):
                _set(sheet.cell(row=sheet.max_row, column=column), value)
        _fit_columns(sheet, table)
        sheet.freeze_panes = "A2"
    book.save(path)
    return path


def _set(cell: Cell, value: Value) -> None:
    if isinstance(value, bool):
        cell.value = "yes" if value else "no"
    elif isinstance(value, int | float | Decimal):
        cell.value = value
    elif value is not None:
        # openpyxl stores any string that starts with "=" as a formula; forcing the string type
        # and Excel's quote prefix keeps the text exactly as it was and never evaluates it.
        cell.value = str(value)
        cell.data_type = "s"
        cell.quotePrefix = str(value).startswith(FORMULA_PREFIXES)


def _fit_columns(sheet, table: Table) -> None:  # type: ignore[no-untyped-def]
    for index, title in enumerate(table.header, start=1):
        longest = max([len(str(title))] + [len(str(r[index - 1] or "")) for r in table.rows[:500]])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, longest + 2)
