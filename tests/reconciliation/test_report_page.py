"""The report page in a real headless Chromium at 1280 px: nothing clipped, nothing to scroll sideways."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path

from reconciliation.report import DiffRow, FieldAgreement, Finding, RunReport, SystemLine, SystemValue, write_report
from tests.fixtures.browser import Page

SYSTEMS = ("crm", "accounting", "erp")
LONG = "Stavební a inženýrská společnost Jihomoravského kraje pro dopravní stavby, akciová společnost"


def _row(n: int, field: str, golden: str, held: str, source: str, rule: str) -> DiffRow:
    values = {"crm": SystemValue(held, "differs", "sent"), "accounting": SystemValue(golden, "source"),
              "erp": SystemValue(f"{held} {n}", "differs", "reported only")}
    return DiffRow(f"H{n:08d}", LONG, field, values, golden, source, rule)


def _report() -> RunReport:
    rows = [_row(1, "email", "fakturace.jihomoravskadopravnistavby@firmasdlouhymnazvemprovsechnyfaktury.example.cz",
                 "info.jihomoravskadopravnistavby@firmasdlouhymnazvem.example.cz", "crm", "source_priority"),
            _row(2, "legal_name", LONG, LONG.upper(), "ares", "source_priority"),
            _row(3, "credit_limit", "1250000.50", "1000000", "accounting", "most_recent"),
            _row(4, "phone", "+420601234567", "+420602000111", "steward", "steward"),
            _row(5, "street", "Nádražní 1234/56a", "Nadrazni 1234/56A", "erp", "registry")]
    finding = Finding("H00000002", LONG, "CZ43292836", "VAT ID invalid", "vies", "2026-11-24", "WAPIAAAAW1234",
                      "request_date=2026-11-24", "accounting ACC10002", Decimal("150000.50"), 30)
    return RunReport(
        run_id="20261207T113021123456-nightly", status="succeeded", started_at="2026-12-07 11:30:21", dry_run=True,
        systems=[SystemLine(s, 12345, 12000, 345, 1200, 2, in_conflict=3, refused=1, would_correct=4,
                            records=12345, records_differing=1500, stale=2) for s in SYSTEMS],
        golden_changed=1234, diff_rows=rows,
        fields=[FieldAgreement(s, f, 12345, 100 * n) for s in SYSTEMS for n, f in enumerate(
            ("email", "legal_name", "credit_limit", "phone", "street"))],
        findings=[finding],
        quarantine=[{"system": "erp", "record_key": "customers-2026-12-07.csv:17", "stage": "read",
                     "reason": "IČO 12345678 fails its checksum; " * 4, "run_id": "r1",
                     "created_at": "2026-12-06 02:01:00"}],
        source_names={"crm": "CRM: the sales team's customer system", "ares": "ARES, the Czech public business register"})


def _screenshot(page: Page, path: Path) -> Path:
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    page.send("Emulation.setDeviceMetricsOverride", width=1280, height=min(height, 6000), deviceScaleFactor=1,
              mobile=False)
    path.write_bytes(base64.b64decode(page.send("Page.captureScreenshot", format="png")["data"]))
    page.send("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
    return path


HIDDEN_HEADERS = """(() => {
  const brokenWord = (cell) => {  // a word drawn on two lines ("matche|d") is not readable
    for (const node of cell.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE) continue;
      for (const m of node.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        if (new Set(Array.from(range.getClientRects()).map(q => Math.round(q.top))).size > 1) return true;
      }
    }
    return false;
  };
  const width = window.innerWidth, out = [];
  for (const th of document.querySelectorAll('th')) {
    const r = th.getBoundingClientRect();
    let clip = th.parentElement, clipped = false;
    while (clip && clip !== document.body) {  // a scrolling box around the table hides what overflows it
      const c = clip.getBoundingClientRect(), style = getComputedStyle(clip);
      if (style.overflowX !== 'visible' && (r.left < c.left || r.right > c.right + 0.5)) clipped = true;
      clip = clip.parentElement;
    }
    if (r.width === 0 || r.left < 0 || r.right > width + 0.5 || clipped || th.scrollWidth > th.clientWidth + 1
        || brokenWord(th))
      out.push(th.closest('table').id + ': ' + th.textContent.trim());
  }
  return out;
})()"""


def test_the_report_fits_1280_px_and_every_column_header_is_visible(browser_page: Page, tmp_path: Path) -> None:
    page = write_report(_report(), tmp_path / "report")
    browser_page.goto(page.as_uri())
    assert browser_page.evaluate("window.innerWidth") == 1280
    scroll, inner = browser_page.evaluate(
        "[document.scrollingElement.scrollWidth, window.innerWidth]")
    shot = _screenshot(browser_page, tmp_path / "report-1280.png")
    print(f"\nreport screenshot at 1280 px: {shot}")
    assert scroll <= inner, f"the page scrolls sideways: {scroll} px wide in a {inner} px window ({shot})"
    assert browser_page.evaluate(HIDDEN_HEADERS) == [], f"clipped or hidden column headers ({shot})"
    headers = browser_page.evaluate("Array.from(document.querySelectorAll('#diffs th')).map(t => t.textContent)")
    assert headers == ["company", "field", *SYSTEMS, "golden value", "chosen by"]
    chosen = json.loads(browser_page.evaluate(
        "JSON.stringify(Array.from(document.querySelectorAll('#diffs td.chosen')).map(t => t.innerText))"))
    assert chosen[1] == "ARES, the Czech public business register: the most trusted source that holds this field"
    assert chosen[3] == "a data steward chose this value on the review page"
    text = browser_page.text()
    assert "1\u00a0250\u00a0000,50" in text and "150\u00a0000,50" in text and "12\u00a0345" in text
    assert "+420 601 234 567" in text
