"""Report: gather a run's figures and findings from the store and write the report files."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.pipeline.context import RunContext, metrics, set_metric
from hub.pipeline.report_views import diff_rows, field_agreement, recent_runs, trend
from hub.store.db import session_scope
from hub.store.models import (
    CanonicalRecord,
    Discrepancy,
    GoldenRecord,
    Quarantine,
    RegistryCheck,
    ReviewItem,
    Run,
    Xref,
)
from reconciliation.formulas import formula_findings
from reconciliation.report import Finding, RunReport, SystemLine, write_report

# Figures the report computes at the end of a run and keeps, so that the trend of later
# reports reads them back instead of guessing what the store looked like then.
SNAPSHOT_METRICS = ("records", "records_differing", "in_conflict")


def build_report(ctx: RunContext) -> RunReport:
    with session_scope(ctx.engine) as session:
        run = session.get(Run, ctx.run_id)
        figures = metrics(session, ctx.run_id)
        diffs = [_row(d) for d in session.scalars(
            select(Discrepancy).where(Discrepancy.run_id == ctx.run_id)
            .order_by(Discrepancy.hub_id, Discrepancy.system, Discrepancy.field))]
        lines = _lines(session, ctx, figures, diffs)
        runs = recent_runs(session, run)
        previous = runs[-2].id if len(runs) > 1 else None
        records = {line.system: line.records for line in lines}
        return RunReport(
            run_id=run.id, status=run.status, started_at=f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            dry_run=run.dry_run, systems=lines, message=run.message,
            golden_changed=figures.get(("hub", "golden_changed"), 0), discrepancies=diffs,
            diff_rows=diff_rows(session, ctx.config, ctx.run_id, diffs, run.dry_run),
            fields=field_agreement(session, ctx.config, records, diffs, previous),
            trend=trend(session, runs, [line.system for line in lines]),
            findings=_findings(session, _money_system(ctx)),
            registry_notes=registry_notes(figures),
            quarantine=[_row(q) for q in session.scalars(
                select(Quarantine).where(Quarantine.run_id == ctx.run_id))],
            formulas=formula_findings(session.execute(select(
                CanonicalRecord.system, CanonicalRecord.record_id, CanonicalRecord.values)
                .where(CanonicalRecord.run_id == ctx.run_id)).tuples()))


def write_run_report(ctx: RunContext) -> Path:
    """Keep the run's snapshot figures, then write the report (re-running overwrites both)."""
    with session_scope(ctx.engine) as session:
        figures = metrics(session, ctx.run_id)
        diffs = [_row(d) for d in session.scalars(select(Discrepancy).where(Discrepancy.run_id == ctx.run_id))]
        for line in _lines(session, ctx, figures, diffs):
            for metric in SNAPSHOT_METRICS:
                set_metric(session, ctx.run_id, line.system, metric, getattr(line, metric))
    return write_report(build_report(ctx), Path(ctx.config.report_dir) / ctx.run_id)


def _row(obj: object) -> dict:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}  # type: ignore[attr-defined]


def _lines(session: Session, ctx: RunContext, figures: dict, diffs: list[dict]) -> list[SystemLine]:
    lines = []
    for system in ctx.config.enabled_systems():
        records = session.scalar(select(func.count()).select_from(CanonicalRecord)
                                 .where(CanonicalRecord.system == system))
        differing = {d["record_id"] for d in diffs if d["system"] == system}

        def get(metric: str, system: str = system) -> int:
            return figures.get((system, metric), 0)

        lines.append(SystemLine(system=system, extracted=get("extracted"), matched=get("matched"),
                                new=get("new"), corrected=get("corrected"),
                                in_conflict=_open_conflicts(session, system),
                                quarantined=get("quarantined"), refused=get("refused"),
                                would_correct=get("would_correct"),
                                records=records, records_differing=len(differing),
                                stale=get("stale")))
    return lines


def _open_conflicts(session: Session, system: str) -> int:
    """Open questions for a steward that involve a record of this system."""
    return session.scalar(select(func.count()).select_from(ReviewItem).where(
        ReviewItem.status == "open", ReviewItem.kind == "conflict",
        or_(ReviewItem.system == system, ReviewItem.other_system == system)))


def _money_system(ctx: RunContext) -> str:
    # The system that decides credit limits is the accountants' system of record.
    return ctx.config.survivorship.rule_for("credit_limit").sources[0]


# What an accountant reads for each registry answer that needs a look before invoicing.
VAT_PROBLEMS = {"invalid": "VAT ID invalid", "invalid_input": "VAT ID malformed",
                "unknown": "unknown: VAT ID not confirmed, re-check pending",
                "security_error": "unknown: VIES response refused as unsafe, re-check pending",
                "refused": "unknown: VIES refused to check this VAT ID"}


def _findings(session: Session, money_system: str) -> list[Finding]:
    """Invalid or unconfirmed VAT IDs, dissolved and insolvent companies among current golden
    records, each with the registry check that says so (date, consultation number)."""
    latest = _latest_checks(session)
    names = {x.hub_id: x for x in session.scalars(select(GoldenRecord).where(GoldenRecord.is_current.is_(True)))}
    found: list[Finding] = []
    for hub_id, golden in sorted(names.items()):
        values = golden.values
        vat = latest.get(("vies", values.get("vat_id")))
        if vat is not None and vat.status in VAT_PROBLEMS:
            found.append(_finding(hub_id, values, values["vat_id"], VAT_PROBLEMS[vat.status], vat))
        # A status is shown with the answer that said so, never with a later failed check.
        isir = latest.get(("isir", values.get("company_id"), "insolvent"))
        if values.get("registry_status") == "insolvent" or isir is not None:
            found.append(_finding(hub_id, values, values.get("company_id", ""), "insolvent", isir))
        if values.get("registry_status") == "dissolved":
            ares = latest.get(("ares", values.get("company_id"), "found"))
            found.append(_finding(hub_id, values, values.get("company_id", ""), "dissolved", ares))
    return [_with_accounting(session, f, money_system) for f in found]


def _latest_checks(session: Session) -> dict[tuple[str, ...], RegistryCheck]:
    """The latest check of each key, as (registry, key), and of each of its answers, as
    (registry, key, status)."""
    latest: dict[tuple[str, ...], RegistryCheck] = {}
    for check in session.scalars(select(RegistryCheck).order_by(RegistryCheck.checked_at)):
        latest[(check.registry_name, check.key)] = check
        latest[(check.registry_name, check.key, check.status)] = check
    return latest


def registry_notes(figures: dict[tuple[str, str], int]) -> list[str]:
    """What a registry step left unchecked in this run, and why: its configuration failed,
    its budget was spent, member states were down, VIES was busy, or the deadline came."""
    notes = []
    for registry in ("ares", "isir", "vies"):
        def get(metric: str, registry: str = registry) -> int:
            return figures.get(("registries", f"{registry}_{metric}"), 0)

        name = registry.upper()
        if get("config_error"):
            notes.append(f"{name} was not checked in this run: its configuration "
                         "failed (the run log says why); its checks are due in the next run.")
        if over := get("not_checked"):
            notes.append(f"{name}: {over:,} companies not yet checked (budget "
                         f"{get('budget'):,} per run); they are checked in the coming runs, "
                         "new and changed first, then the oldest checks.")
        if down := get("member_state_unavailable"):
            notes.append(f"{name}: {down:,} VAT ID(s) not checked: their member state was "
                         "reported unavailable; they are due in the next run.")
        if busy := get("busy"):
            notes.append(f"{name}: {busy:,} VAT ID(s) not checked: VIES was busy (too many "
                         "requests in flight) after the retries; they are due in the next run.")
        if (left := get("left")) and not get("config_error"):
            notes.append(f"{name}: {left} check(s) not answered before the step's "
                         "deadline; they are due in the next run.")
    return notes


def _finding(hub_id: str, values: dict, identifier: str, problem: str,
             check: RegistryCheck | None) -> Finding:
    evidence = ""
    if check is not None:
        detail = check.detail or {}
        evidence = "; ".join(f"{k}={v}" for k, v in sorted(detail.items())
                             if k in {"request_date", "fault", "reason", "datumZaniku", "case"}
                             and v)
    return Finding(hub_id=hub_id, legal_name=values.get("legal_name", ""), identifier=identifier,
                   problem=problem, registry=check.registry_name if check else "",
                   checked_on=str(check.checked_on) if check else "",
                   consultation=(check.request_identifier or "") if check else "", evidence=evidence,
                   severity="warn" if problem.startswith("unknown") else "bad")


def _with_accounting(session: Session, finding: Finding, money_system: str) -> Finding:
    """The company's credit limit and payment terms as the accounting system holds them."""
    record_id = session.scalar(select(Xref.record_id).where(
        Xref.hub_id == finding.hub_id, Xref.system == money_system).order_by(Xref.record_id))
    record = session.get(CanonicalRecord, (money_system, record_id)) if record_id else None
    if record is None:
        return finding
    values = record.values
    terms = values.get("payment_terms_days")
    return Finding(**{**finding.__dict__, "accounting_record": f"{money_system} {record_id}",
                      "credit_limit": _decimal(values.get("credit_limit")),
                      "payment_terms_days": int(terms) if terms is not None else None})


def _decimal(value: object) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None

