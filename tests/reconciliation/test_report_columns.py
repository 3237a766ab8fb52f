"""The discrepancies written column-wise by polars read exactly as the row API writes them."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import phonenumbers
import polars as pl
import pytest

from reconciliation.report import DiffRow, SystemValue, diff_columns, diff_frame_of, diff_rows_of, discrepancy_table
from reconciliation.report_files import CZ_PHONE, Table, write_tables
from reconciliation.report_format import chosen_by, typed

SYSTEMS = ["crm", "accounting"]
NAMES = {"crm": "CRM: sales", "accounting": "Accounting: the books"}
# Text a cell must carry whole: markup, control characters XML cannot hold, a carriage return,
# spaces at an end, formula-like text, numbers and phones that only look like formulas, empty.
TRICKY = ["Hlavní 1", "a & b <c> \"d\" 'e'", "Firma\x01 s.r.o.\x1f", "line\r\nbreak\ttab", " leading",
          "trailing ", "=HYPERLINK(\"http://x\",\"click\")", "@SUM(A1)", "-5", "+49 (30) 123-456/7",
          "a;b", "", None, "ŠČŘ žluťoučký kůň"]
VALUES = {"street": TRICKY, "credit_limit": ["150000.50", "100000.5", "1E+3", "12,5", "", None, "-0.00"],
          "payment_terms_days": ["14", "+7", "007", "x", None],
          "phone": ["+420601234567", "+420212345678", "+420961234567", "+421905123456", "+4930123456",
                    "00420601234567", "601 234 567", "", None]}


def _rows() -> list[DiffRow]:
    rows = []
    n = 0
    for field, values in VALUES.items():
        for value in values:
            n += 1
            golden = values[(values.index(value) + 1) % len(values)]
            rows.append(DiffRow(f"H{n:08d}", f"Firma {n}" if n % 5 else "=cmd|' /C calc'!A0", field,
                                {"crm": SystemValue(value, "differs", "sent" if n % 2 else "reported only"),
                                 "accounting": SystemValue(golden, "source" if n % 3 else "agrees")},
                                golden, "accounting" if n % 4 else None, "source_priority" if n % 4 else None))
    return rows


def _row_cells(row: DiffRow) -> list[object]:
    """A discrepancy as the row-wise report wrote it: each value typed by its field."""
    cells: list[object] = [row.hub_id, row.company, row.field]
    for s in SYSTEMS:
        held = row.values[s]
        cells += [typed(row.field, held.value), held.state, held.correction]
    return cells + [typed(row.field, row.golden_value), row.source, row.rule, chosen_by(row.source, row.rule, NAMES)]


def _sheet_data(path: Path) -> str:
    with zipfile.ZipFile(path) as book:
        xml = book.read("xl/worksheets/sheet1.xml").decode()
    return re.search(r"<sheetData>.*</sheetData>", xml, re.S).group(0)


@pytest.mark.parametrize("chunk", [3, 100_000])
def test_columns_write_the_same_csv_and_cells_as_rows(tmp_path: Path, chunk: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reconciliation.report_files.CHUNK_ROWS", chunk)
    rows = _rows()
    header = [*diff_columns(SYSTEMS), "chosen_by"]
    (tmp_path / "rows").mkdir()
    (tmp_path / "columns").mkdir()
    write_tables(tmp_path / "rows", [Table("discrepancies", header, [_row_cells(r) for r in rows])])
    write_tables(tmp_path / "columns", [discrepancy_table(diff_frame_of(rows, SYSTEMS), SYSTEMS, NAMES)])
    assert (tmp_path / "columns" / "discrepancies.csv").read_bytes() == \
        (tmp_path / "rows" / "discrepancies.csv").read_bytes()
    assert _sheet_data(tmp_path / "columns" / "report.xlsx") == _sheet_data(tmp_path / "rows" / "report.xlsx")


def test_a_long_frame_continues_on_more_sheets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reconciliation.report_files.CHUNK_ROWS", 4)
    rows = _rows()
    write_tables(tmp_path, [discrepancy_table(diff_frame_of(rows, SYSTEMS), SYSTEMS, NAMES)], sheet_rows=11)
    with zipfile.ZipFile(tmp_path / "report.xlsx") as book:
        sheets = sorted(n for n in book.namelist() if n.startswith("xl/worksheets/"))
        first = book.read(sheets[0]).decode()
    assert len(sheets) == -(-len(rows) // 10)
    assert first.count("<row ") == 11 and '<row r="11">' in first and "A1:M11" in first


def test_frame_and_rows_convert_both_ways() -> None:
    rows = _rows()
    assert diff_rows_of(diff_frame_of(rows, SYSTEMS), SYSTEMS) == rows


def test_czech_numbers_are_spelled_as_phonenumbers_spells_them() -> None:
    numbers = [f"+420{lead}{n:06d}"[:13] for lead in range(200, 1000, 7) for n in (0, 123456, 999999, 50505)]
    spelled = pl.Series(numbers).str.replace(CZ_PHONE, "+420 $1 $2 $3")
    fast = [(n, s) for n, s in zip(numbers, spelled, strict=True) if n != s]
    assert len(fast) > len(numbers) // 2, "most Czech numbers take the fast path"
    for number, ours in fast:
        theirs = phonenumbers.format_number(phonenumbers.parse(number, None),
                                            phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        assert ours == theirs, number
