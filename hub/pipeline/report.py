"""Report: gather a run's figures and findings from the store and write the report files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import Row, Select, distinct, func, or_, select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.pipeline.context import RunContext, metrics, set_metric
from hub.pipeline.report_views import (
    diff_frame,
    field_agreement,
    field_counts,
    recent_runs,
    top_hubs,
    top_rows,
    trend,
)
from hub.store.db import in_chunks, session_scope
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
from mappings.formulas import FORMULA_PREFIXES, FREE_TEXT_FIELDS
from reconciliation.formulas import formula_findings
from reconciliation.report import Finding, RunReport, SystemLine, diff_rows_of, write_report
from reconciliation.report_format import KIND_WORDS, Formatter

# Figures the report computes at the end of a run and keeps, so that the trend of later
# reports reads them back instead of guessing what the store looked like then.
SNAPSHOT_METRICS = ("records", "records_differing", "in_conflict")


def build_report(ctx: RunContext) -> RunReport:
    """The report's figures and the page's rows from the store, without the files' rows:
    figures by SQL aggregates, the differences of the top companies per field only."""
    with session_scope(ctx.engine) as session:
        lines = _lines(session, ctx, metrics(session, ctx.run_id))
        return _build(session, ctx, lines, every=False)


def _build(session: Session, ctx: RunContext, lines: list[SystemLine], every: bool) -> RunReport:
    """The report; with ``every``, every difference is read (as one frame) for the files and
    the page's rows are its top ones per field."""
    run = session.get(Run, ctx.run_id)
    figures = metrics(session, ctx.run_id)
    runs = recent_runs(session, run)
    previous = runs[-2].id if len(runs) > 1 else None
    records = {line.system: line.records for line in lines}
    systems = ctx.config.enabled_systems()
    conn = session.connection()
    if every:
        frame = diff_frame(conn, ctx.config, ctx.run_id, run.dry_run)
        counts = dict(frame.group_by("field").len().iter_rows())
    else:
        frame = None
        counts = field_counts(session, ctx.run_id)
    page = top_rows(frame if frame is not None else diff_frame(
        conn, ctx.config, ctx.run_id, run.dry_run, hubs=top_hubs(session, ctx.run_id)))
    return RunReport(
        run_id=run.id, status=run.status, started_at=f"{run.started_at:%Y-%m-%d %H:%M:%S}",
        dry_run=run.dry_run, systems=lines, message=run.message,
        golden_changed=figures.get(("hub", "golden_changed"), 0),
        diff_rows=diff_rows_of(page, systems), field_counts=counts, all_diffs=frame,
        fields=field_agreement(session, ctx.config, records, ctx.run_id, previous),
        trend=trend(session, runs, [line.system for line in lines]),
        findings=_findings(session, _money_system(ctx)),
        registry_notes=registry_notes(figures, Formatter(ctx.config.report.locale).number),
        matching_notes=matching_notes(figures),
        quarantine=open_quarantine(session),
        formulas=formula_findings(session.execute(_formula_like(ctx.run_id)).all()),
        locale=ctx.config.report.locale, source_names=source_names(ctx.config))


def open_quarantine(session: Session) -> list[dict]:
    """Every record still in quarantine, whichever run put it there (oldest first): the page
    shows the open ones, not only this run's, until a readable version or a person resolves them."""
    columns = [c for c in Quarantine.__table__.columns if c.key != "raw_payload"]
    return [dict(q) for q in session.execute(select(*columns).where(Quarantine.resolved_at.is_(None))
                                             .order_by(Quarantine.id)).mappings()]


def source_names(config: HubConfig) -> dict[str, str]:
    """Each system and registry in plain words: report.source_names, else its kind's words."""
    named = config.report.source_names
    systems = {name: named.get(name) or f"{name}: {KIND_WORDS.get(s.kind, s.kind)}"
               for name, s in config.systems.items()}
    return systems | {name: named.get(name) or KIND_WORDS.get(r.kind, name)
                      for name, r in config.registries.items()}


def write_run_report(ctx: RunContext) -> Path:
    """Keep the run's snapshot figures, then write the report (re-running overwrites both)."""
    with session_scope(ctx.engine) as session:
        lines = _lines(session, ctx, metrics(session, ctx.run_id))
        for line in lines:
            for metric in SNAPSHOT_METRICS:
                set_metric(session, ctx.run_id, line.system, metric, getattr(line, metric))
    with session_scope(ctx.engine) as session:  # the trend reads the figures just kept
        report = _build(session, ctx, lines, every=True)
    return write_report(report, Path(ctx.config.report_dir) / ctx.run_id)


def _formula_like(run_id: str) -> Select:
    """The run's canonical records with a free-text value starting with a formula character:
    the database picks them, so a million records are not loaded to find a handful."""
    starts = [func.substr(CanonicalRecord.values[f].as_string(), 1, 1).in_(FORMULA_PREFIXES)
              for f in FREE_TEXT_FIELDS]
    return (select(CanonicalRecord.system, CanonicalRecord.record_id, CanonicalRecord.values)
            .where(CanonicalRecord.run_id == run_id, or_(*starts)))


def _lines(session: Session, ctx: RunContext, figures: dict) -> list[SystemLine]:
    records = dict(session.execute(select(CanonicalRecord.system, func.count())
                                   .group_by(CanonicalRecord.system)).tuples().all())
    differing = dict(session.execute(
        select(Discrepancy.system, func.count(distinct(Discrepancy.record_id)))
        .where(Discrepancy.run_id == ctx.run_id).group_by(Discrepancy.system)).tuples().all())
    lines = []
    for system in ctx.config.enabled_systems():
        def get(metric: str, system: str = system) -> int:
            return figures.get((system, metric), 0)

        lines.append(SystemLine(system=system, extracted=get("extracted"), matched=get("matched"),
                                new=get("new"), corrected=get("corrected"),
                                in_conflict=_open_conflicts(session, system),
                                quarantined=get("quarantined"), refused=get("refused"),
                                would_correct=get("would_correct"),
                                records=records.get(system, 0), records_differing=differing.get(system, 0),
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
    candidates = _finding_candidates(session)
    latest = _latest_checks(session, {
        "vies": {v["vat_id"] for v in candidates.values() if v.get("vat_id")},
        "isir": {v["company_id"] for v in candidates.values() if v.get("company_id")},
        "ares": {v["company_id"] for v in candidates.values() if v.get("company_id")}})
    found: list[Finding] = []
    for hub_id, values in sorted(candidates.items()):
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
    return _with_accounting(session, found, money_system)


def _finding_candidates(session: Session) -> dict[str, dict]:
    """Current golden records that may be a finding: a registry status, or an identifier some
    check found a problem with. The database filters, so the million good ones stay there."""
    values = GoldenRecord.values
    bad_vat = select(RegistryCheck.key).where(RegistryCheck.registry_name == "vies",
                                              RegistryCheck.status.in_(list(VAT_PROBLEMS)))
    insolvent = select(RegistryCheck.key).where(RegistryCheck.registry_name == "isir",
                                                RegistryCheck.status == "insolvent")
    rows = session.execute(select(GoldenRecord.hub_id, values).where(
        GoldenRecord.is_current.is_(True),
        or_(values["registry_status"].as_string().in_(("insolvent", "dissolved")),
            values["vat_id"].as_string().in_(bad_vat),
            values["company_id"].as_string().in_(insolvent))))
    return dict(rows.tuples().all())


def _latest_checks(session: Session, keys: Mapping[str, set[str]]) -> dict[tuple[str, ...], Row]:
    """The latest check of each of these keys per registry, as (registry, key), and of each
    of its answers, as (registry, key, status); plain rows (Core), not ORM objects."""
    latest: dict[tuple[str, ...], Row] = {}
    for registry, wanted in keys.items():
        for chunk in in_chunks(sorted(wanted)):  # a key's checks all come in the same chunk
            for check in session.execute(select(*RegistryCheck.__table__.c).where(
                    RegistryCheck.registry_name == registry, RegistryCheck.key.in_(chunk))
                    .order_by(RegistryCheck.checked_at)):
                latest[(check.registry_name, check.key)] = check
                latest[(check.registry_name, check.key, check.status)] = check
    return latest


TRAINING_SET_ASIDE = (
    "Matching: the match model trained on this run's records looked collapsed (it would link far "
    "more pairs than can be the same company), so this run linked with the untrained parameters. "
    "The log names the sign; `custhub match --explain` shows the estimated model.")


def matching_notes(figures: dict[tuple[str, str], int]) -> list[str]:
    """What the run's matching did otherwise than configured (reconcile's figures)."""
    return [TRAINING_SET_ASIDE] if figures.get(("hub", "match_training_fallback")) else []


def registry_notes(figures: dict[tuple[str, str], int],
                   number: Callable[[int], str] = "{:,}".format) -> list[str]:
    """What a registry step left unchecked in this run, and why: its configuration failed,
    its budget was spent, member states were down, VIES was busy, or the deadline came.
    ``number`` writes a count (the report passes its locale's)."""
    notes = []
    for registry in ("ares", "isir", "vies"):
        def get(metric: str, registry: str = registry) -> int:
            return figures.get(("registries", f"{registry}_{metric}"), 0)

        name = registry.upper()
        if get("config_error"):
            notes.append(f"{name} was not checked in this run: its configuration "
                         "failed (the run log says why); its checks are due in the next run.")
        if over := get("not_checked"):
            notes.append(f"{name}: {number(over)} companies not yet checked (budget "
                         f"{number(get('budget'))} per run); they are checked in the coming runs, "
                         "new and changed first, then the oldest checks.")
        if down := get("member_state_unavailable"):
            notes.append(f"{name}: {number(down)} VAT ID(s) not checked: their member state was "
                         "reported unavailable; they are due in the next run.")
        if busy := get("busy"):
            notes.append(f"{name}: {number(busy)} VAT ID(s) not checked: VIES was busy (too many "
                         "requests in flight) after the retries; they are due in the next run.")
        if (left := get("left")) and not get("config_error"):
            notes.append(f"{name}: {number(left)} check(s) not answered before the step's "
                         "deadline; they are due in the next run.")
    return notes


def _finding(hub_id: str, values: dict, identifier: str, problem: str,
             check: Row | None) -> Finding:
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


def _with_accounting(session: Session, found: list[Finding], money_system: str) -> list[Finding]:
    """Each company's credit limit and payment terms as the accounting system holds them
    (its first record there by record id), read for all findings at once."""
    first: dict[str, str] = {}
    for chunk in in_chunks(sorted({f.hub_id for f in found})):
        # The system is picked here, not in the WHERE: given ``system`` there, SQLite walks the
        # primary key (system, record_id) through every record of the system for each chunk.
        for hub_id, system, record_id in session.execute(select(Xref.hub_id, Xref.system, Xref.record_id)
                                                         .where(Xref.hub_id.in_(chunk))):
            if system == money_system and (hub_id not in first or record_id < first[hub_id]):
                first[hub_id] = record_id
    held: dict[str, dict] = {}
    for chunk in in_chunks(sorted(set(first.values()))):
        held.update(session.execute(select(CanonicalRecord.record_id, CanonicalRecord.values).where(
            CanonicalRecord.system == money_system, CanonicalRecord.record_id.in_(chunk))).tuples().all())
    return [_accounting(f, money_system, first[f.hub_id], held[first[f.hub_id]])
            if first.get(f.hub_id) in held else f for f in found]


def _accounting(finding: Finding, money_system: str, record_id: str, values: dict) -> Finding:
    terms = values.get("payment_terms_days")
    return Finding(**{**finding.__dict__, "accounting_record": f"{money_system} {record_id}",
                      "credit_limit": _decimal(values.get("credit_limit")),
                      "payment_terms_days": int(terms) if terms is not None else None})


def _decimal(value: object) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None

