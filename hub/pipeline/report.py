"""Report: gather a run's figures and findings from the store and write the report files."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.pipeline.context import RunContext, metrics
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, Discrepancy, GoldenRecord, Quarantine, RegistryCheck, Run, Xref
from reconciliation.report import Finding, RunReport, SystemLine, write_report


def build_report(ctx: RunContext) -> RunReport:
    with session_scope(ctx.engine) as session:
        run = session.get(Run, ctx.run_id)
        figures = metrics(session, ctx.run_id)
        diffs = [_row(d) for d in session.scalars(
            select(Discrepancy).where(Discrepancy.run_id == ctx.run_id)
            .order_by(Discrepancy.hub_id, Discrepancy.system, Discrepancy.field))]
        return RunReport(
            run_id=run.id, status=run.status, started_at=f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            dry_run=run.dry_run, systems=_lines(session, ctx, figures, diffs),
            golden_changed=figures.get(("hub", "golden_changed"), 0), discrepancies=diffs,
            findings=_findings(session),
            quarantine=[_row(q) for q in session.scalars(
                select(Quarantine).where(Quarantine.run_id == ctx.run_id))])


def write_run_report(ctx: RunContext) -> Path:
    return write_report(build_report(ctx), Path(ctx.config.report_dir) / ctx.run_id)


def _row(obj: object) -> dict:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}  # type: ignore[attr-defined]


def _lines(session: Session, ctx: RunContext, figures: dict, diffs: list[dict]) -> list[SystemLine]:
    lines = []
    for system in ctx.config.enabled_systems():
        records = len(session.scalars(select(CanonicalRecord.record_id)
                                      .where(CanonicalRecord.system == system)).all())
        differing = {d["record_id"] for d in diffs if d["system"] == system and d["corrected"]}

        def get(metric: str, system: str = system) -> int:
            return figures.get((system, metric), 0)

        lines.append(SystemLine(system=system, extracted=get("extracted"), matched=get("matched"),
                                new=get("new"), corrected=get("corrected"),
                                quarantined=get("quarantined"), would_correct=get("would_correct"),
                                records=records, records_differing=len(differing)))
    return lines


def _findings(session: Session) -> list[Finding]:
    """Invalid or unconfirmed VAT IDs and dissolved companies among current golden records."""
    latest = _latest_checks(session)
    names = {x.hub_id: x for x in session.scalars(select(GoldenRecord).where(GoldenRecord.is_current.is_(True)))}
    found: list[Finding] = []
    for hub_id, golden in sorted(names.items()):
        values = golden.values
        vat = latest.get(("vies", values.get("vat_id")))
        if vat is not None and vat.status != "valid":
            found.append(_finding(hub_id, values, values["vat_id"], f"VAT ID {vat.status}", vat))
        if values.get("registry_status") in {"dissolved", "insolvent"}:
            ares = latest.get(("ares", values.get("company_id")))
            found.append(_finding(hub_id, values, values.get("company_id", ""),
                                  values["registry_status"], ares))
    return found


def _latest_checks(session: Session) -> dict[tuple[str, str], RegistryCheck]:
    checks = session.scalars(select(RegistryCheck).order_by(RegistryCheck.checked_at))
    return {(c.registry_name, c.key): c for c in checks}


def _finding(hub_id: str, values: dict, identifier: str, problem: str,
             check: RegistryCheck | None) -> Finding:
    evidence = ""
    if check is not None:
        detail = check.detail or {}
        evidence = "; ".join(f"{k}={v}" for k, v in sorted(detail.items())
                             if k in {"request_date", "fault", "reason", "datumZaniku"} and v)
        if check.request_identifier:
            evidence = f"consultation {check.request_identifier}; {evidence}"
    return Finding(hub_id=hub_id, legal_name=values.get("legal_name", ""), identifier=identifier,
                   problem=problem, registry=check.registry_name if check else "",
                   checked_on=str(check.checked_on) if check else "", evidence=evidence)


def xref_size(session: Session) -> int:
    return len(session.scalars(select(Xref.hub_id)).all())
