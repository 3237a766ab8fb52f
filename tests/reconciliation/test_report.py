"""The report as files: what an accountant opens in a browser and in Excel."""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from reconciliation.report import (
    TOP_PER_FIELD,
    DiffRow,
    FieldAgreement,
    Finding,
    RunReport,
    SystemLine,
    SystemValue,
    TrendPoint,
    diff_frame_of,
    render_report,
    top_per_field,
    write_report,
)
from reconciliation.report_chart import agreement_chart
from reconciliation.report_files import MONEY_FORMAT, safe_cell

EVIL = "=HYPERLINK(\"http://x\",\"click\")"


def _report(**changes: object) -> RunReport:
    lines = [SystemLine("crm", 10, 9, 1, 2, 1, in_conflict=1, records=10, records_differing=3),
             SystemLine("accounting", 8, 8, 0, 1, 0, refused=1, records=8, records_differing=1)]
    row = DiffRow("H00000001", "<b>Kovo</b> s.r.o.", "street",
                  {"crm": SystemValue(EVIL, "differs", "sent"),
                   "accounting": SystemValue("Hlavní 1", "source")},
                  "Hlavní 1", "accounting", "source_priority")
    finding = Finding("H00000002", "Stavby a.s.", "CZ43292836", "VAT ID invalid", "vies", "2026-11-24",
                      "WAPIAAAAW1234", "request_date=2026-11-24", "accounting ACC10002",
                      Decimal("150000.50"), 30)
    money = DiffRow("H00000003", "Peníze s.r.o.", "credit_limit",
                    {"crm": SystemValue(None, "not_held"),
                     "accounting": SystemValue("100000.50", "source")},
                    "100000.50", "accounting", "source_priority")
    phone = DiffRow("H00000004", "Telefon a.s.", "phone",
                    {"crm": SystemValue("+420601234567", "differs", "sent"),
                     "accounting": SystemValue("+420602000111", "source")},
                    "+420602000111", "ares", "source_priority")
    trend = [TrendPoint(f"r{i}", f"2026-11-2{i} 02:00", {"crm": 0.9 + i / 100, "accounting": None}, i, 0, 0)
             for i in range(3)]
    base = dict(run_id="r2", status="succeeded", started_at="2026-11-22 02:00:00", dry_run=False,
                systems=lines, golden_changed=2, diff_rows=[row, money, phone],
                fields=[FieldAgreement("crm", "street", 10, 3, previous=1.0),
                        FieldAgreement("accounting", "street", 8, 0)],
                trend=trend, findings=[finding],
                quarantine=[{"system": "crm", "record_key": "CRM-9", "stage": "map", "reason": "@bad",
                             "run_id": "r2", "created_at": "2026-11-22 02:01:00"},
                            {"system": "erp", "record_key": "P-7", "stage": "read", "reason": "bad IČO",
                             "run_id": "r1", "created_at": "2026-11-21 02:01:00"}],
                source_names={"crm": "CRM: sales", "accounting": "Accounting: the books",
                              "ares": "ARES, the Czech public business register"})
    return RunReport(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["=1+2", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)",
                                  "\tx", "\rx", "+420 777 SUM(A1)"])
def test_what_a_spreadsheet_would_run_is_escaped(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Kovo s.r.o.", "a=b", "+420 601 234 567", "+420601234567", "-5", "-12,50",
                                  "+49 (30) 123-456/7"])
def test_plain_text_numbers_and_phone_numbers_are_left_alone(text: str) -> None:
    assert safe_cell(text) == text


def test_empty_and_numbers_are_plain_text() -> None:
    assert [safe_cell(v) for v in (12, None)] == ["12", ""]


def test_csv_files_open_in_czech_excel(tmp_path: Path) -> None:
    write_report(_report(), tmp_path)
    raw = (tmp_path / "discrepancies.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, or Excel guesses cp1250"
    rows = list(csv.reader((tmp_path / "discrepancies.csv").open(encoding="utf-8-sig"), delimiter=";"))
    header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[:3] == ["hub_id", "company", "field"]
    assert first["crm_value"] == "'" + EVIL and first["crm_correction"] == "sent"
    assert first["accounting_state"] == "source" and first["golden_value"] == "Hlavní 1"
    findings = list(csv.DictReader((tmp_path / "registry_findings.csv").open(encoding="utf-8-sig"),
                                   delimiter=";"))
    assert findings[0]["credit_limit"] == "150000,50", "decimal comma, read as a number by Czech Excel"
    assert findings[0]["consultation"] == "WAPIAAAAW1234" and findings[0]["checked_on"] == "2026-11-24"
    quarantine = list(csv.DictReader((tmp_path / "quarantine.csv").open(encoding="utf-8-sig"), delimiter=";"))
    assert [q["reason"] for q in quarantine] == ["'@bad", "bad IČO"], "every open one, escaped where it runs"


def test_every_csv_uses_one_decimal_mark_and_no_visible_apostrophe_on_phones(tmp_path: Path) -> None:
    write_report(_report(), tmp_path)
    tables = {p.stem: list(csv.DictReader(p.open(encoding="utf-8-sig"), delimiter=";"))
              for p in tmp_path.glob("*.csv")}
    assert set(tables) >= {"summary", "agreement", "discrepancies", "registry_findings", "quarantine",
                           "formula_like_values", "legend"}
    diffs = {r["field"]: r for r in tables["discrepancies"]}
    assert diffs["credit_limit"]["accounting_value"] == diffs["credit_limit"]["golden_value"] == "100000,50"
    assert tables["registry_findings"][0]["credit_limit"] == "150000,50"
    assert diffs["phone"]["crm_value"] == "+420 601 234 567" and diffs["phone"]["golden_value"] == "+420 602 000 111"
    assert tables["agreement"][0]["agreement_percent"] == "70,0"
    every_cell = [v for rows in tables.values() for row in rows for v in row.values()]
    assert not [v for v in every_cell if re.fullmatch(r"-?\d+\.\d+", v)], "no decimal point anywhere"
    assert not [v for v in every_cell if v.startswith("'+") and v[2:3].isdigit()], "no apostrophe on a number"
    assert diffs["phone"]["chosen_by"] == ("ARES, the Czech public business register: "
                                           "the most trusted source that holds this field")
    legend = {r["name"]: r["meaning"] for r in tables["legend"]}
    assert legend["source_priority"].startswith("Each field lists its sources in order of trust")
    assert legend["ares"] == "ARES, the Czech public business register" and "steward" in legend


def test_xlsx_holds_every_table_and_never_a_formula(tmp_path: Path) -> None:
    write_report(_report(), tmp_path)
    book = load_workbook(tmp_path / "report.xlsx")
    assert book.sheetnames == ["summary", "agreement", "discrepancies", "registry_findings", "quarantine",
                               "formula_like_values", "legend"]
    sheet = book["discrepancies"]
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("crm_value") + 1)
    assert cell.value == EVIL and cell.data_type == "s" and cell.quotePrefix
    summary = book["summary"]
    assert [c.value for c in summary[2]][:5] == ["crm", 10, 9, 1, 2], "numbers stay numbers"


def test_xlsx_cells_are_typed_and_every_sheet_has_an_autofilter(tmp_path: Path) -> None:
    write_report(_report(), tmp_path)
    book = load_workbook(tmp_path / "report.xlsx")
    for sheet in book.worksheets:
        width = sheet.max_column
        assert sheet.auto_filter.ref == f"A1:{chr(ord('A') + width - 1)}{sheet.max_row}", sheet.title
    rows = {r[2].value: dict(zip([c.value for c in book["discrepancies"][1]], r, strict=True))
            for r in book["discrepancies"].iter_rows(min_row=2)}
    money = rows["credit_limit"]["golden_value"]
    assert (money.value, money.data_type, money.number_format) == (100000.5, "n", MONEY_FORMAT)
    phone = rows["phone"]["crm_value"]
    assert (phone.value, phone.data_type, phone.quotePrefix) == ("+420 601 234 567", "s", False)
    finding = dict(zip([c.value for c in book["registry_findings"][1]], book["registry_findings"][2], strict=True))
    assert finding["credit_limit"].data_type == "n" and finding["credit_limit"].value == 150000.5
    assert finding["checked_on"].is_date and finding["checked_on"].value.date().isoformat() == "2026-11-24"
    assert finding["payment_terms_days"].value == 30
    since = [r[5] for r in book["quarantine"].iter_rows(min_row=2)]
    assert all(c.is_date for c in since)


def test_html_shows_systems_side_by_side_and_escapes_data(tmp_path: Path) -> None:
    html = write_report(_report(), tmp_path).read_text(encoding="utf-8")
    assert "&lt;b&gt;Kovo&lt;/b&gt; s.r.o." in html and "<b>Kovo</b>" not in html
    assert '<td class="differs">=HYPERLINK(&#34;http://x&#34;' in html
    assert "→ sent" in html and '<td class="golden">Hlavní 1</td>' in html
    assert "consultation no. <b>WAPIAAAAW1234</b>" in html
    assert "Open invoices are not part of the customer view" in html
    assert "(1 refused)" in html


def test_html_writes_money_numbers_and_percentages_in_the_configured_locale() -> None:
    html = render_report(_report())
    assert 'credit limit <b class="money">150\xa0000,50</b>' in html
    assert "100\xa0000,50" in html and "100000.50" not in html and "150000.50" not in html
    assert "+420 601 234 567" in html and "70,0\xa0%" in html and "24. 11. 2026" in html
    english = render_report(_report(locale="en_GB"))
    assert "150,000.50" in english and "70.0\xa0%" in english


def test_chosen_by_and_the_legend_say_in_plain_words_what_each_name_means() -> None:
    html = render_report(_report())
    assert "ARES, the Czech public business register: the most trusted source that holds this field" in html
    legend = html.split('id="legend"')[1].split("</dl>")[0]
    for name in ("crm", "accounting", "ares", "steward", "source_priority", "most_recent", "most_frequent",
                 "first_non_empty", "registry"):
        assert f"<dt>{name}</dt>" in legend


def test_the_open_quarantine_is_shown_not_only_this_runs() -> None:
    html = render_report(_report())
    assert "2 record(s) wait in quarantine, 1 of them\nfrom this run" in html
    assert "<td>P-7</td>" in html and "Nothing was quarantined" not in html
    assert "No record is in quarantine." in render_report(_report(quarantine=[]))


def test_trend_chart_is_inline_svg_without_anything_from_the_network() -> None:
    html = render_report(_report())
    assert "<polyline" in html and "agreement with the golden record per system" in html
    assert "src=" not in html and "<link" not in html, "no CDN, no external resource"
    assert "▼ 30,0\xa0%" in html, "crm street dropped from 100 % to 70 %: the drift is flagged"


def test_a_first_run_has_no_trend_yet() -> None:
    assert "The trend appears from the second run on." in render_report(_report(trend=[]))


def test_chart_axis_starts_below_the_lowest_value() -> None:
    chart = agreement_chart(["a", "b"], {"crm": [0.97, 0.99], "erp": [None, 0.93]})
    assert [label for _, label in chart.y_ticks] == ["92 %", "94 %", "96 %", "98 %", "100 %"]
    assert chart.y_ticks[0][0] > chart.y_ticks[-1][0], "100 % is drawn at the top"
    erp = chart.series[1]
    assert len(erp.dots) == 1, "a run without a figure leaves a gap, not a zero"


# --- over a real run of the sandbox estate -----------------------------------------------------


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.parametrize("hub_store_url", ["sqlite", "postgresql"], indirect=True)
def test_the_sandbox_run_report_equals_the_store(hub_config, sandbox_estate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import distinct, func, select

    from hub.pipeline.context import RunContext, open_store
    from hub.pipeline.nightly import run_nightly
    from hub.pipeline.report import build_report
    from hub.pipeline.report_views import diff_frame
    from reconciliation.report import diff_rows_of
    from hub.store.db import session_scope
    from hub.store.models import CanonicalRecord, Discrepancy, Outbox, Quarantine

    result = run_nightly(hub_config)
    engine = open_store(hub_config)
    report = build_report(RunContext(hub_config, engine, result.run_id))
    with session_scope(engine) as session:
        def count(query) -> int:  # type: ignore[no-untyped-def]
            return session.scalar(query)

        for line in report.systems:
            s = line.system
            assert line.corrected == count(select(func.count()).select_from(Outbox).where(
                Outbox.system == s, Outbox.run_id == result.run_id, Outbox.status == "sent"))
            assert line.quarantined == count(select(func.count()).select_from(Quarantine).where(
                Quarantine.system == s, Quarantine.run_id == result.run_id))
            assert line.records == count(select(func.count()).select_from(CanonicalRecord).where(
                CanonicalRecord.system == s))
            assert line.records_differing == count(select(func.count(distinct(Discrepancy.record_id))).where(
                Discrepancy.system == s, Discrepancy.run_id == result.run_id))
        pairs = session.execute(select(Discrepancy.hub_id, Discrepancy.field)
                                .where(Discrepancy.run_id == result.run_id).distinct()).all()
    assert report.differing == len(report.diff_rows) == len(pairs) > 0, "all shown at this size"
    assert sum(line.corrected for line in report.systems) > 0, "the generated estate starts with drift"
    html = result.report.read_text(encoding="utf-8")
    for line in report.systems:
        row = re.search(rf'<tr data-system="{line.system}">(.*?)</tr>', html, re.S).group(1)
        numbers = [int(n.replace("\xa0", "")) for n in re.findall(r'<td class="num[^"]*">\s*([\d\xa0]+)', row)]
        assert numbers == [line.extracted, line.matched, line.new, line.corrected, line.in_conflict,
                           line.quarantined], f"{line.system}: the page shows the store's figures"
    summary = list(csv.DictReader((result.report.parent / "summary.csv").open(encoding="utf-8-sig"),
                                  delimiter=";"))
    assert {r["system"]: int(r["corrected"]) for r in summary} == {s.system: s.corrected for s in report.systems}
    assert load_workbook(result.report.parent / "report.xlsx")["discrepancies"].max_row == len(pairs) + 1
    with session_scope(engine) as session:  # the page's companies read alone give the same rows
        systems = hub_config.enabled_systems()
        every = diff_frame(session.connection(), hub_config, result.run_id, False)
        small = diff_rows_of(every, systems)
        some = sorted({d.hub_id for d in small})[::3]
        alone = diff_rows_of(diff_frame(session.connection(), hub_config, result.run_id, False, hubs=some),
                             systems)
        assert alone == [d for d in small if d.hub_id in set(some)]
        assert sorted(report.diff_rows, key=lambda d: (d.hub_id, d.field)) == small, "all shown at this size"
    in_csv = list(csv.DictReader((result.report.parent / "discrepancies.csv").open(encoding="utf-8-sig"),
                                 delimiter=";"))
    assert [(r["hub_id"], r["field"]) for r in in_csv] == [(d.hub_id, d.field) for d in small]
    assert sorted((d.hub_id, d.field) for d in small) == sorted(tuple(p) for p in pairs)


# --- at scale: the files hold every row, the page the top ones per field ------------------------


def _many(street: int, city: int) -> list[DiffRow]:
    def row(n: int, field: str) -> DiffRow:
        return DiffRow(f"H{n:08d}", f"Firma {n}", field, {"crm": SystemValue(f"old {n}", "differs", "sent"),
                                                        "accounting": SystemValue(f"new {n}", "source")},
                       f"new {n}", "accounting", "source_priority")
    return [row(n, "street") for n in range(street)] + [row(n, "city") for n in range(city)]


def test_a_long_table_continues_on_more_sheets_and_loses_no_row(tmp_path: Path) -> None:
    rows = _many(23, 2)
    write_report(_report(diff_rows=rows), tmp_path, sheet_rows=10)
    book = load_workbook(tmp_path / "report.xlsx")
    parts = [name for name in book.sheetnames if name.startswith("discrepancies")]
    assert parts == ["discrepancies", "discrepancies (2)", "discrepancies (3)"]
    sheets = [list(book[name].values) for name in parts]
    assert all(s[0] == sheets[0][0] for s in sheets), "every sheet starts with the header"
    assert [len(s) for s in sheets] == [10, 10, 8]
    in_book = [r for s in sheets for r in s[1:]]
    in_csv = list(csv.reader((tmp_path / "discrepancies.csv").open(encoding="utf-8-sig"), delimiter=";"))[1:]
    assert [r[0] for r in in_book] == [r[0] for r in in_csv] == [d.hub_id for d in rows]
    assert book["discrepancies (2)"].freeze_panes == "A2"
    assert book["discrepancies (3)"].auto_filter.ref == f"A1:{chr(ord('A') + len(sheets[0][0]) - 1)}8"


def test_the_page_shows_the_top_of_each_field_and_links_every_row(tmp_path: Path) -> None:
    rows = _many(120, 3)
    report = _report(diff_rows=top_per_field(rows), field_counts={"street": 120, "city": 3},
                     all_diffs=diff_frame_of(rows, ["crm", "accounting"]))
    html = write_report(report, tmp_path).read_text(encoding="utf-8")
    shown = re.findall(r'<tr data-field="(\w+)" data-differs', html)
    assert shown.count("street") == TOP_PER_FIELD and shown.count("city") == 3
    assert "123 company field(s) differed" in html
    assert f"{TOP_PER_FIELD + 3} of 123" in html and '<a href="discrepancies.csv">' in html
    in_csv = list(csv.DictReader((tmp_path / "discrepancies.csv").open(encoding="utf-8-sig"), delimiter=";"))
    assert len(in_csv) == 123 and in_csv[-1]["field"] == "city", "the files hold every row, not the page's"


def test_a_small_report_shows_every_row_and_no_cut_note(tmp_path: Path) -> None:
    html = write_report(_report(diff_rows=_many(5, 2)), tmp_path).read_text(encoding="utf-8")
    assert len(re.findall(r'<tr data-field="\w+" data-differs', html)) == 7
    assert 'id="diffs-cut"' not in html
