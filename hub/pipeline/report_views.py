"""The report's derived tables: the three-way discrepancy view, agreement per field, and the trend.

All of them are read from what the run stored (Discrepancy, Outbox, Xref, RunMetric), so a
report rebuilt later for the same run shows the same figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.store.db import in_chunks
from hub.store.models import Discrepancy, GoldenRecord, Outbox, Run, RunMetric, Xref
from reconciliation.report import DiffRow, FieldAgreement, SystemValue, TrendPoint

TREND_RUNS = 12


def carried_fields(config: HubConfig, systems: Sequence[str]) -> dict[str, set[str]]:
    return {s: set(config.spec(s).fields) for s in systems}


def diff_rows(session: Session, config: HubConfig, run_id: str, diffs: Sequence[dict],
              dry_run: bool) -> list[DiffRow]:
    """One row per company and field that differs, every system's value side by side."""
    systems = config.enabled_systems()
    carries = carried_fields(config, systems)
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for d in diffs:
        by_key[(d["hub_id"], d["field"])].append(d)
    hubs = sorted({hub for hub, _ in by_key})
    members = _members(session, hubs)
    names = _names(session, hubs)
    outbox = _corrections(session, run_id, {(d["system"], d["record_id"]) for d in diffs})
    rows = []
    for (hub_id, field), found in sorted(by_key.items()):
        first = found[0]
        values = {s: _system_value(s, field, found, members.get(hub_id, set()), carries[s], first,
                                   outbox, dry_run) for s in systems}
        rows.append(DiffRow(hub_id=hub_id, company=names.get(hub_id, ""), field=field, values=values,
                            golden_value=first["golden_value"], source=first["source"],
                            rule=first["rule"]))
    return rows


def _system_value(system: str, field: str, found: list[dict], members: set[str], carried: set[str],
                  first: dict, outbox: Mapping[tuple[str, str], list[Outbox]], dry_run: bool) -> SystemValue:
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


def _correction(d: dict, outbox: Mapping[tuple[str, str], list[Outbox]], dry_run: bool) -> str:
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
    out = {}
    for chunk in in_chunks(hubs):
        for g in session.scalars(select(GoldenRecord).where(GoldenRecord.hub_id.in_(chunk),
                                                            GoldenRecord.is_current.is_(True))):
            out[g.hub_id] = g.values.get("legal_name", "")
    return out


def _corrections(session: Session, run_id: str, keys: set[tuple[str, str]]) -> dict[tuple[str, str], list[Outbox]]:
    """Outbox rows per record, this run's first, then the newest earlier ones."""
    out: dict[tuple[str, str], list[Outbox]] = defaultdict(list)
    systems = {s for s, _ in keys}
    rows = session.scalars(select(Outbox).where(Outbox.system.in_(systems)).order_by(Outbox.id.desc()))
    for row in rows:
        if (row.system, row.record_id) in keys:
            out[(row.system, row.record_id)].append(row)
    for key in out:
        out[key].sort(key=lambda r: r.run_id != run_id)
    return out


def field_agreement(session: Session, config: HubConfig, records: Mapping[str, int],
                    diffs: Sequence[dict], previous_run: str | None) -> list[FieldAgreement]:
    systems = config.enabled_systems()
    now = _differing(diffs)
    before_records, before_differing = _previous(session, previous_run)
    out = []
    for system, fields in carried_fields(config, systems).items():
        for field in sorted(fields):
            previous = None
            if before_records.get(system):
                previous = 1 - before_differing.get((system, field), 0) / before_records[system]
            out.append(FieldAgreement(system, field, records.get(system, 0),
                                      len(now.get((system, field), ())), previous))
    return out


def _differing(diffs: Iterable[dict]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for d in diffs:
        out[(d["system"], d["field"])].add(d["record_id"])
    return out


def _previous(session: Session, run_id: str | None) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Records per system and differing records per system and field, as an earlier run saw them."""
    if run_id is None:
        return {}, {}
    records = {m.system: m.value for m in session.scalars(select(RunMetric).where(
        RunMetric.run_id == run_id, RunMetric.metric == "records"))}
    counts = session.execute(
        select(Discrepancy.system, Discrepancy.field, func.count(func.distinct(Discrepancy.record_id)))
        .where(Discrepancy.run_id == run_id).group_by(Discrepancy.system, Discrepancy.field)).all()
    return records, {(s, f): n for s, f, n in counts}


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
