"""The run report for accountants and IT: a readable HTML page and CSV files for Excel."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

SUMMARY_COLUMNS = ("system", "extracted", "matched", "new", "corrected", "quarantined")
# A cell starting with one of these would run as a formula in a spreadsheet.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class SystemLine:
    system: str
    extracted: int
    matched: int
    new: int
    corrected: int
    quarantined: int
    would_correct: int = 0
    records: int = 0
    records_differing: int = 0

    @property
    def agreement(self) -> float:
        return 1.0 if not self.records else 1 - self.records_differing / self.records


@dataclass(frozen=True)
class Finding:
    """A company an accountant must look at before invoicing, with the registry's evidence."""

    hub_id: str
    legal_name: str
    identifier: str
    problem: str
    registry: str
    checked_on: str
    evidence: str


@dataclass
class RunReport:
    run_id: str
    status: str
    started_at: str
    dry_run: bool
    systems: list[SystemLine]
    golden_changed: int
    discrepancies: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)

    @property
    def nothing_changed(self) -> bool:
        return self.golden_changed == 0 and not any(s.corrected or s.would_correct for s in self.systems)


def write_report(report: RunReport, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    _write_csv(directory / "summary.csv", SUMMARY_COLUMNS,
               ([getattr(s, c) for c in SUMMARY_COLUMNS] for s in report.systems))
    columns = ("hub_id", "system", "record_id", "field", "system_value", "golden_value", "source",
               "rule", "corrected")
    _write_csv(directory / "discrepancies.csv", columns,
               ([d[c] for c in columns] for d in report.discrepancies))
    finding_columns = tuple(Finding.__dataclass_fields__)
    _write_csv(directory / "registry_findings.csv", finding_columns,
               (list(asdict(f).values()) for f in report.findings))
    page = directory / "report.html"
    page.write_text(_render(report), encoding="utf-8")
    return page


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    # utf-8 with BOM and ';' is what Czech Excel opens without a wizard.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(header)
        writer.writerows([safe_cell(v) for v in row] for row in rows)


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _render(report: RunReport) -> str:
    env = Environment(loader=PackageLoader("reconciliation", "templates"),
                      autoescape=select_autoescape(["html"]))
    return env.get_template("report.html").render(report=report, bar_width=320)
