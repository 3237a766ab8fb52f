"""The report's derived tables: the three-way discrepancy view, agreement per field, and the trend.

All of them are read from what the run stored (Discrepancy, Outbox, Xref, RunMetric), so a
report rebuilt later for the same run shows the same figures.

Every read is bounded whatever the run's size: counts are GROUP BY queries, the page's
differences are the top ones per field (a window query), and the files' differences are
streamed in hub id order, a batch at a time, with their members and corrections looked up
per batch through indexes (xref.hub_id, outbox (system, record_id)).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.store.db import in_chunks
from hub.store.models import Discrepancy, GoldenRecord, Outbox, Run, RunMetric, Xref
from reconciliation.report import TOP_PER_FIELD, DiffRow, FieldAgreement, SystemValue, TrendPoint

TREND_RUNS = 12
STREAM_BATCH = 5_000  # discrepancies read at a time when the files are written


def carried_fields(config: HubConfig, systems: Sequence[str]) -> dict[str, set[str]]:
    return {s: set(config.spec(s).fields) for s in systems}


def field_counts(session: Session, run_id: str) -> dict[str, int]:
    """Company fields that differ in the run, per field: the rows of the discrepancies table."""
    return dict(session.execute(select(Discrepancy.field, func.count(distinct(Discrepancy.hub_id)))
                                .where(Discrepancy.run_id == run_id).group_by(Discrepancy.field)).tuples().all())


def top_diff_rows(session: Session, config: HubConfig, run_id: str, dry_run: bool,
                  counts: Mapping[str, int], top: int = TOP_PER_FIELD) -> list[DiffRow]:
    """The page's differences: per field, the ``top`` companies where the most systems differ
    (then by hub id); fields with the most differences first."""
    grouped = select(Discrepancy.hub_id, Discrepancy.field, func.row_number().over(
        partition_by=Discrepancy.field, order_by=(func.count().desc(), Discrepancy.hub_id)).label("rank")
    ).where(Discrepancy.run_id == run_id).group_by(Discrepancy.hub_id, Discrepancy.field).subquery()
    ranks = {(hub, field): rank for hub, field, rank in session.execute(
        select(grouped.c.hub_id, grouped.c.field, grouped.c.rank).where(grouped.c.rank <= top))}
    found = []
    for chunk in in_chunks(sorted({hub for hub, _ in ranks})):
        found += [d for d in session.execute(_discrepancies(run_id).where(Discrepancy.hub_id.in_(chunk)))
                  .mappings() if (d["hub_id"], d["field"]) in ranks]
    rows = diff_rows(session, config, run_id, found, dry_run)
    return sorted(rows, key=lambda r: (-counts.get(r.field, 0), r.field, ranks[(r.hub_id, r.field)]))


def stream_diff_rows(session: Session, config: HubConfig, run_id: str, dry_run: bool,
                     batch: int = STREAM_BATCH) -> Iterator[DiffRow]:
    """Every difference of the run in hub id order, read ``batch`` discrepancies at a time;
    a company's discrepancies are never split between two batches."""
    pending: list = []
    result = session.execute(_discrepancies(run_id).order_by(
        Discrepancy.hub_id, Discrepancy.field, Discrepancy.system).execution_options(yield_per=batch))
    for part in result.mappings().partitions():
        pending += part
        cut = len(pending)
        while cut and pending[cut - 1]["hub_id"] == pending[-1]["hub_id"]:
            cut -= 1
        yield from diff_rows(session, config, run_id, pending[:cut], dry_run)
        pending = pending[cut:]
    yield from diff_rows(session, config, run_id, pending, dry_run)


def _discrepancies(run_id: str) -> Select:
    return select(Discrepancy.__table__).where(Discrepancy.run_id == run_id)


def diff_rows(session: Session, config: HubConfig, run_id: str, diffs: Sequence[Mapping],
              dry_run: bool) -> list[DiffRow]:
    """One row per company and field that differs, every system's value side by side."""
    if not diffs:
        return []
    systems = config.enabled_systems()
    carries = carried_fields(config, systems)
    by_key: dict[tuple[str, str], list[Mapping]] = defaultdict(list)
    for d in diffs:
        by_key[(d["hub_id"], d["field"])].append(d)
    hubs = sorted({hub for hub, _ in by_key})
    members = _members(session, hubs)
    names = _names(session, hubs)
    outbox = _corrections(session, run_id, {(d["system"], d["record_id"]) for d in diffs if d["corrected"]})
    rows = []
    for (hub_id, field), found in sorted(by_key.items()):
        first = found[0]
        values = {s: _system_value(s, field, found, members.get(hub_id, set()), carries[s], first,
                                   outbox, dry_run) for s in systems}
        rows.append(DiffRow(hub_id=hub_id, company=names.get(hub_id, ""), field=field, values=values,
                            golden_value=first["golden_value"], source=first["source"],
                            rule=first["rule"]))
    return rows


def _system_value(system: str, field: str, found: list[Mapping], members: set[str], carried: set[str],
                  first: Mapping, outbox: Mapping[tuple[str, str], list], dry_run: bool) -> SystemValue:
    mine = [d for d in found if d["system"] == system]
    if mine:
        shown = " | ".join(sorted({d["system_value"] or "(empty)" for d in mine}))
        return SystemValue(shown, "differs", _correction(mine[0], outbox, dry_run))
    if system not in members:
        return SystemValue(None, "no_record")
    if field not in carried:
        return SystemValue(None, "not_held")
    state = "source" if first["source"] == system else "agrees"
    return SystemValue(first["golden_value"], state)


def _correction(d: Mapping, outbox: Mapping[tuple[str, str], list], dry_run: bool) -> str:
    if not d["corrected"]:
        return "reported only"  # the system is not configured to receive this field
    for row in outbox.get((d["system"], d["record_id"]), []):
        if d["field"] in row.values:
            if row.status == "pending":
                return "would send" if dry_run else "pending"
            return row.status
    return "sent earlier"  # the same correction of the same state went out in an earlier run


def _members(session: Session, hubs: Sequence[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for chunk in in_chunks(hubs):
        for hub_id, system in session.execute(select(Xref.hub_id, Xref.system).where(Xref.hub_id.in_(chunk))):
            out[hub_id].add(system)
    return out


def _names(session: Session, hubs: Sequence[str]) -> dict[str, str]:
    name = GoldenRecord.values["legal_name"].as_string()  # read in SQL: no golden record is parsed
    out = {}
    for chunk in in_chunks(hubs):
        # The current version is picked here, not in the WHERE: given ``is_current`` there,
        # SQLite searches its index (every current record) for each chunk instead of the
        # primary key (hub_id, version), and the report grew with the square of the estate.
        out.update((hub, value) for hub, current, value in session.execute(
            select(GoldenRecord.hub_id, GoldenRecord.is_current, name)
            .where(GoldenRecord.hub_id.in_(chunk))) if current)
    return {hub: value or "" for hub, value in out.items()}


def _corrections(session: Session, run_id: str, keys: set[tuple[str, str]]) -> dict[tuple[str, str], list]:
    """Outbox rows per corrected record, this run's first, then the newest earlier ones."""
    out: dict[tuple[str, str], list] = defaultdict(list)
    wanted: dict[str, list[str]] = defaultdict(list)
    for system, record_id in sorted(keys):
        wanted[system].append(record_id)
    for system, record_ids in wanted.items():
        for chunk in in_chunks(record_ids):
            for row in session.execute(select(Outbox.system, Outbox.record_id, Outbox.run_id, Outbox.status,
                                              Outbox.values).where(Outbox.system == system,
                                                                   Outbox.record_id.in_(chunk))
                                       .order_by(Outbox.id.desc())):
                out[(row.system, row.record_id)].append(row)
    for key in out:
        out[key].sort(key=lambda r: r.run_id != run_id)
    return out


def field_agreement(session: Session, config: HubConfig, records: Mapping[str, int],
                    run_id: str, previous_run: str | None) -> list[FieldAgreement]:
    systems = config.enabled_systems()
    now = _differing(session, run_id)
    before_records, before_differing = _previous(session, previous_run)
    out = []
    for system, fields in carried_fields(config, systems).items():
        for field in sorted(fields):
            previous = None
            if before_records.get(system):
                previous = 1 - before_differing.get((system, field), 0) / before_records[system]
            out.append(FieldAgreement(system, field, records.get(system, 0),
                                      now.get((system, field), 0), previous))
    return out


def _differing(session: Session, run_id: str) -> dict[tuple[str, str], int]:
    """Records differing per system and field in a run."""
    counts = session.execute(
        select(Discrepancy.system, Discrepancy.field, func.count(distinct(Discrepancy.record_id)))
        .where(Discrepancy.run_id == run_id).group_by(Discrepancy.system, Discrepancy.field)).all()
    return {(s, f): n for s, f, n in counts}


def _previous(session: Session, run_id: str | None) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Records per system and differing records per system and field, as an earlier run saw them."""
    if run_id is None:
        return {}, {}
    records = {m.system: m.value for m in session.scalars(select(RunMetric).where(
        RunMetric.run_id == run_id, RunMetric.metric == "records"))}
    return records, _differing(session, run_id)


def recent_runs(session: Session, run: Run, limit: int = TREND_RUNS) -> list[Run]:
    """The last finished runs of the same kind up to this one, oldest first."""
    rows = session.scalars(select(Run).where(Run.kind == run.kind, Run.started_at <= run.started_at,
                                             Run.dry_run.is_(False) | (Run.id == run.id))
                           .order_by(Run.started_at.desc()).limit(limit)).all()
    return list(reversed(rows))


def trend(session: Session, runs: Sequence[Run], systems: Sequence[str]) -> list[TrendPoint]:
    ids = [r.id for r in runs]
    figures: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for m in session.scalars(select(RunMetric).where(RunMetric.run_id.in_(ids))):
        figures[m.run_id][(m.system, m.metric)] = m.value
    points = []
    for run in runs:
        got = figures[run.id]
        agreement = {s: (1 - got.get((s, "records_differing"), 0) / got[(s, "records")])
                     if got.get((s, "records")) else None for s in systems}
        points.append(TrendPoint(run.id, f"{run.started_at:%Y-%m-%d %H:%M}", agreement,
                                 sum(got.get((s, "corrected"), 0) for s in systems),
                                 sum(got.get((s, "in_conflict"), 0) for s in systems),
                                 sum(got.get((s, "quarantined"), 0) for s in systems)))
    return points
