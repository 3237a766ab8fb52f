"""The run report for accountants and IT: a readable HTML page, CSV files and an XLSX workbook.

The report is a plain data structure (RunReport) built by hub.pipeline.report from the store;
this module only presents it, so that it can be tested without a store.
At a million companies the page stays readable and small: it shows counts per field and
the top differences of each field (every list capped), and links the CSV files and the
workbook, which hold every row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from pathlib import Path

import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape

from reconciliation.formulas import FormulaFinding
from reconciliation.report_chart import agreement_chart, bar_width
from reconciliation.report_files import (
    SHEET_ROWS,
    FrameTable,
    Table,
    csv_text,
    safe_cell,
    spelled_once,
    typed_columns,
    write_tables,
    xlsx_text,
)
from reconciliation.report_format import DEFAULT_LOCALE, RULE_LEGEND, Formatter, as_date, chosen_by

__all__ = ["DiffRow", "FieldAgreement", "Finding", "RunReport", "SystemLine", "SystemValue",
           "TrendPoint", "diff_frame_of", "diff_rows_of", "report_tables", "safe_cell", "top_per_field",
           "write_report"]

# The page shows this many differing company fields per field, and this many rows of each
# other list; the CSV files and the workbook hold every row.
TOP_PER_FIELD = 50
TOP_ROWS = 500
SUMMARY_COLUMNS = ("system", "extracted", "matched", "new", "corrected", "in_conflict",
                   "quarantined", "refused", "records", "records_differing", "stale")


@dataclass(frozen=True)
class SystemLine:
    system: str
    extracted: int
    matched: int
    new: int
    corrected: int
    quarantined: int
    in_conflict: int = 0
    refused: int = 0
    would_correct: int = 0
    records: int = 0
    records_differing: int = 0
    stale: int = 0  # read again in an older version than the hub has: not staged

    @property
    def agreement(self) -> float:
        return 1.0 if not self.records else 1 - self.records_differing / self.records


@dataclass(frozen=True)
class FieldAgreement:
    """How many of a system's records hold the golden value of one field, now and before."""

    system: str
    field: str
    records: int
    differing: int
    previous: float | None = None  # the same figure in the run before, to show drift

    @property
    def agreement(self) -> float:
        return 1.0 if not self.records else 1 - self.differing / self.records

    @property
    def change(self) -> float | None:
        return None if self.previous is None else self.agreement - self.previous


@dataclass(frozen=True)
class TrendPoint:
    run_id: str
    started_at: str
    agreement: dict[str, float | None]
    corrected: int
    in_conflict: int
    quarantined: int


@dataclass(frozen=True)
class SystemValue:
    """What one system holds for a field of a company, next to the golden value."""

    value: str | None
    state: str  # differs, agrees, source (the golden value came from here), not_held, no_record
    correction: str = ""  # sent, refused, pending, would send, reported only


@dataclass(frozen=True)
class DiffRow:
    """One company and field where at least one system differs from the golden value."""

    hub_id: str
    company: str
    field: str
    values: dict[str, SystemValue]
    golden_value: str | None
    source: str | None
    rule: str | None


@dataclass(frozen=True)
class Finding:
    """A company an accountant must look at before invoicing, with the registry's evidence."""

    hub_id: str
    legal_name: str
    identifier: str
    problem: str
    registry: str
    checked_on: str
    consultation: str
    evidence: str
    accounting_record: str = ""
    credit_limit: Decimal | None = None
    payment_terms_days: int | None = None
    severity: str = "bad"  # bad, or warn for a check still pending


@dataclass
class RunReport:
    """A run's report. ``diff_rows`` are the differences the page shows (the top ones per
    field when a store built the report); ``all_diffs``, when given, holds every one of them
    for the files as a frame (``diff_frame_of``'s columns), and ``field_counts`` says how many
    there are per field."""

    run_id: str
    status: str
    started_at: str
    dry_run: bool
    systems: list[SystemLine]
    golden_changed: int
    diff_rows: list[DiffRow] = field(default_factory=list)
    field_counts: dict[str, int] | None = None  # differing company fields per field; None: count diff_rows
    all_diffs: pl.DataFrame | Callable[[], pl.DataFrame] | None = None  # None: diff_rows are all of them
    fields: list[FieldAgreement] = field(default_factory=list)
    trend: list[TrendPoint] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    message: str | None = None
    # A registry step that did not check everything: a configuration error, keys left at its
    # deadline. One line per registry; the keys themselves are due in the next run.
    registry_notes: list[str] = field(default_factory=list)
    # Matching that did not go as configured (training set aside as collapsed): read before
    # trusting this run's links.
    matching_notes: list[str] = field(default_factory=list)
    formulas: list[FormulaFinding] = field(default_factory=list)  # formula-like text read in this run
    locale: str = DEFAULT_LOCALE  # how the page writes numbers, money and dates (Babel)
    # Every source (system or registry) in plain words, for the "chosen by" column and the legend.
    source_names: dict[str, str] = field(default_factory=dict)

    @property
    def nothing_changed(self) -> bool:
        return self.golden_changed == 0 and not any(s.corrected or s.would_correct for s in self.systems)

    @property
    def quarantined_in_run(self) -> int:
        return sum(q.get("run_id") == self.run_id for q in self.quarantine)

    def legend(self) -> list[tuple[str, str]]:
        """Every source and rule name the report uses, with what it means."""
        return [*((n, w) for n, w in self.source_names.items() if n != "steward"), *RULE_LEGEND.items()]

    @property
    def system_names(self) -> list[str]:
        return [s.system for s in self.systems]

    @property
    def differing_by_field(self) -> dict[str, int]:
        if self.field_counts is not None:
            return self.field_counts
        counts: dict[str, int] = {}
        for d in self.diff_rows:
            counts[d.field] = counts.get(d.field, 0) + 1
        return counts

    @property
    def differing(self) -> int:
        """Company fields where at least one system differs from the golden value."""
        return sum(self.differing_by_field.values())

    def every_diff(self) -> pl.DataFrame:
        """Every difference of the run as a frame (``diff_frame_of``'s columns)."""
        if self.all_diffs is None:
            return diff_frame_of(self.diff_rows, self.system_names)
        return self.all_diffs() if callable(self.all_diffs) else self.all_diffs


def diff_columns(systems: Sequence[str]) -> list[str]:
    """The discrepancies file's columns: a company field, then a value, state and correction
    per system, then the golden value and why."""
    return ["hub_id", "company", "field", *(f"{s}_{part}" for s in systems
                                            for part in ("value", "state", "correction")),
            "golden_value", "source", "rule"]


def diff_frame_of(rows: Iterable[DiffRow], systems: Sequence[str]) -> pl.DataFrame:
    """DiffRows as a frame: ``diff_columns`` and ``differing`` (systems that differ, to rank by)."""
    data: dict[str, list] = {name: [] for name in [*diff_columns(systems), "differing"]}
    for row in rows:
        data["hub_id"].append(row.hub_id)
        data["company"].append(row.company)
        data["field"].append(row.field)
        for s in systems:
            held = row.values.get(s, SystemValue(None, "no_record"))
            data[f"{s}_value"].append(held.value)
            data[f"{s}_state"].append(held.state)
            data[f"{s}_correction"].append(held.correction)
        data["golden_value"].append(row.golden_value)
        data["source"].append(row.source)
        data["rule"].append(row.rule)
        data["differing"].append(sum(v.state == "differs" for v in row.values.values()))
    return pl.DataFrame(data, schema={name: pl.Int64 if name == "differing" else pl.String for name in data})


def diff_rows_of(frame: pl.DataFrame, systems: Sequence[str]) -> list[DiffRow]:
    """A frame's rows (the page's few) as DiffRows."""
    return [DiffRow(hub_id=r["hub_id"], company=r["company"], field=r["field"],
                    values={s: SystemValue(r[f"{s}_value"], r[f"{s}_state"], r[f"{s}_correction"] or "")
                            for s in systems},
                    golden_value=r["golden_value"], source=r["source"], rule=r["rule"])
            for r in frame.iter_rows(named=True)]


def write_report(report: RunReport, directory: Path, sheet_rows: int = SHEET_ROWS) -> Path:
    """report.html next to one CSV per table and report.xlsx holding all of them."""
    directory.mkdir(parents=True, exist_ok=True)
    names = write_tables(directory, report_tables(report), sheet_rows=sheet_rows)
    page = directory / "report.html"
    page.write_text(render_report(report, names), encoding="utf-8")
    return page


def report_tables(report: RunReport) -> list[Table | FrameTable]:
    systems = report.system_names
    return [
        Table("summary", SUMMARY_COLUMNS, [[getattr(s, c) for c in SUMMARY_COLUMNS] for s in report.systems]),
        Table("agreement", ("system", "field", "records", "differing", "agreement_percent"),
              [[f.system, f.field, f.records, f.differing, round(f.agreement * 100, 1)]
               for f in report.fields]),
        discrepancy_table(report.every_diff(), systems, report.source_names),
        Table("registry_findings",
              ("hub_id", "company", "identifier", "problem", "registry", "checked_on", "consultation",
               "evidence", "accounting_record", "credit_limit", "payment_terms_days"),
              [[f.hub_id, f.legal_name, f.identifier, f.problem, f.registry, as_date(f.checked_on),
                f.consultation, f.evidence, f.accounting_record, f.credit_limit,
                f.payment_terms_days] for f in report.findings]),
        Table("quarantine", ("system", "record", "stage", "reason", "run", "quarantined_at"),
              [[q["system"], q["record_key"], q["stage"], q["reason"], q.get("run_id"),
                as_date(q.get("created_at"))] for q in report.quarantine]),
        Table("formula_like_values", ("system", "record", "field", "value", "action"),
              [list(f) for f in report.formulas]),
        Table("legend", ("name", "meaning"), [list(item) for item in report.legend()]),
    ]


def discrepancy_table(frame: pl.DataFrame, systems: Sequence[str], names: dict[str, str]) -> FrameTable:
    """The discrepancies file and sheet: ``diff_columns`` and "chosen_by" in plain words;
    values typed by their field, everything else text."""
    pairs = frame.select("source", "rule").unique()
    words = pairs.with_columns(chosen_by=pl.Series(
        [chosen_by(source, rule, names) for source, rule in pairs.iter_rows()], dtype=pl.String))
    frame = frame.join(words, on=["source", "rule"], how="left", maintain_order="left", nulls_equal=True)
    values = [f"{s}_value" for s in systems] + ["golden_value"]
    frame, csv_values, cell_values = typed_columns(frame, "field", values)
    header = [*diff_columns(systems), "chosen_by"]
    # Columns of a few words each (states, corrections, rules) are spelled once per word.
    few = {"field", "source", "rule", "chosen_by", *(f"{s}_{p}" for s in systems for p in ("state", "correction"))}
    for h in few:
        csv_values[h] = spelled_once(frame, h, csv_text)
        cell_values[h] = spelled_once(frame, h, xlsx_text)
    return FrameTable("discrepancies", header, frame,
                      [csv_values.get(h, csv_text(pl.col(h))) for h in header],
                      [cell_values.get(h, xlsx_text(pl.col(h))) for h in header])


def render_report(report: RunReport, exports: list[str] | None = None) -> str:
    env = Environment(loader=PackageLoader("reconciliation", "templates"),
                      autoescape=select_autoescape(["html"]))
    fmt = Formatter(report.locale)
    env.filters.update(num=fmt.number, money=fmt.money, pct=fmt.percent, day=fmt.day)
    labels = [fmt.moment(p.started_at) for p in report.trend]
    chart = agreement_chart(labels, {s: [p.agreement.get(s) for p in report.trend]
                                     for s in report.system_names},
                            percent=fmt.percent) if len(report.trend) > 1 else None
    fields = sorted({f.field for f in report.fields}, key=_field_order(report))
    grid = {(f.system, f.field): f for f in report.fields}
    counts = report.differing_by_field
    diff_fields = sorted(counts, key=lambda name: (-counts[name], name))
    return env.get_template("report.html").render(
        report=report, chart=chart, bar=bar_width, fields=fields, grid=grid,
        exports=exports or [], shown=top_per_field(report.diff_rows), diff_fields=diff_fields,
        counts=counts, top=TOP_PER_FIELD, top_rows=TOP_ROWS, value=fmt.value,
        chosen_by=lambda d: chosen_by(d.source, d.rule, report.source_names), lang=report.locale[:2])


def top_per_field(rows: Iterable[DiffRow], top: int = TOP_PER_FIELD) -> list[DiffRow]:
    """The first ``top`` rows of each field, fields in the order they first come."""
    groups: dict[str, list[DiffRow]] = {}
    for row in rows:
        group = groups.setdefault(row.field, [])
        if len(group) < top:
            group.append(row)
    return list(chain.from_iterable(groups.values()))


def _field_order(report: RunReport):  # type: ignore[no-untyped-def]
    # The least agreed fields first: that is where an accountant should look.
    worst = {}
    for f in report.fields:
        worst[f.field] = min(worst.get(f.field, 1.0), f.agreement)
    return lambda name: (worst[name], name)
