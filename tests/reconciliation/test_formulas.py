"""Formula-like text: detected, held or escaped, and flagged in the report per record and field."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from core.formats import FileFormat
from mappings.formulas import escape_cell, formula_like, held_formula, unescape_cell
from mappings.writeback import represent
from reconciliation.diff import differences
from reconciliation.formulas import ESCAPED, HELD, FormulaFinding, formula_findings, refused_formula
from reconciliation.records import Golden, MemberRecord
from reconciliation.report import RunReport, write_report

LINK = '=HYPERLINK("http://x","Klikni")'
CSV = FileFormat(encoding="cp1250", delimiter=";", decimal_comma=True)


@pytest.mark.parametrize("text", [LINK, "+Plus s.r.o.", "-ZERO- a.s.", "@SUM(A1)", "\tx", "\rx"])
def test_a_formula_is_recognised_by_its_first_character(text: str) -> None:
    assert formula_like(text)


@pytest.mark.parametrize("text", ["Kovo s.r.o.", "a=b", "'t Hoen B.V.", "", "1+1"])
def test_plain_text_is_not_a_formula(text: str) -> None:
    assert not formula_like(text) and escape_cell(text) == text


def test_only_what_starts_no_real_value_is_held() -> None:
    assert [held_formula(t) for t in (LINK, "@x", "-ZERO- a.s.", "+Plus")] == [True, True, False, False]
    frame = pl.DataFrame({"v": [LINK, "-ZERO-", None, "Firma"]})
    assert frame.select(refused_formula(pl.col("v"))).to_series().to_list() == [True, False, False, False]


@pytest.mark.parametrize("text", [LINK, "-ZERO- a.s.", "'=already quoted", "''+two", "'t Hoen", "Firma"])
def test_the_escape_round_trips(text: str) -> None:
    cell = escape_cell(text)
    assert not formula_like(cell)
    assert unescape_cell(cell) == text


def test_a_csv_import_file_gets_the_escaped_text_and_soap_or_sql_the_data() -> None:
    assert represent("-ZERO- a.s.", CSV) == "'-ZERO- a.s."
    assert represent("+420602123456", CSV) == "'+420602123456"
    assert represent("-ZERO- a.s.", None) == "-ZERO- a.s."  # SOAP and SQL: a value, not a cell
    assert represent("Firma", CSV) == "Firma"


def test_a_held_golden_value_is_reported_but_never_corrected() -> None:
    golden = Golden({"legal_name": LINK, "street": "-1- Street"},
                    {"legal_name": {"source": "accounting", "record_id": "A1"},
                     "street": {"source": "accounting", "record_id": "A1"}})
    members = [MemberRecord("accounting", "A1", golden.values),
               MemberRecord("crm", "C1", {"legal_name": "Firma", "street": "Ulice 1"})]
    found = differences(golden, members, {"crm": {"legal_name", "street"}}, {"crm": {"legal_name", "street"},
                                                                               "accounting": {"legal_name", "street"}})
    assert [(d.field, d.correct) for d in found] == [("legal_name", False), ("street", True)]


def test_findings_name_each_record_and_field_and_what_the_hub_does() -> None:
    records = [("crm", "C1", {"legal_name": LINK, "phone": "+420602123456"}),
               ("erp", "E1", {"legal_name": "-ZERO- a.s.", "city": "Brno"}),
               ("accounting", "A1", {"legal_name": "Firma", "credit_limit": "-20"})]
    assert formula_findings(records) == [FormulaFinding("crm", "C1", "legal_name", LINK, HELD),
                                         FormulaFinding("erp", "E1", "legal_name", "-ZERO- a.s.", ESCAPED)]


def test_the_report_lists_them_escaped(tmp_path: Path) -> None:
    report = RunReport(run_id="r1", status="succeeded", started_at="2026-11-22 02:00:00", dry_run=False,
                       systems=[], golden_changed=0,
                       formulas=[FormulaFinding("crm", "C1", "legal_name", LINK, HELD)])
    html = write_report(report, tmp_path).read_text(encoding="utf-8")
    assert "=HYPERLINK(&#34;http://x&#34;" in html and HELD in html
    [row] = list(csv.DictReader((tmp_path / "formula_like_values.csv").open(encoding="utf-8-sig"), delimiter=";"))
    assert row == {"system": "crm", "record": "C1", "field": "legal_name", "value": "'" + LINK, "action": HELD}
