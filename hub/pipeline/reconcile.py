"""Reconcile: match records into hub ids, build golden records, diff systems, fill the outbox."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.pipeline.context import RunContext, content_hash, set_metric, utcnow
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, Discrepancy, GoldenRecord, Outbox, SourceRecord, Xref
from mappings.customer import CUSTOMER_FIELDS
from mappings.engine import load_spec
from reconciliation.diff import corrections, differences
from reconciliation.matching import MatchOutcome, match
from reconciliation.records import Difference, Golden, MemberRecord
from reconciliation.survivorship import survive


def reconcile(ctx: RunContext) -> dict[str, int]:
    with session_scope(ctx.engine) as session:
        members = [MemberRecord(r.system, r.record_id, r.values)
                   for r in session.scalars(select(CanonicalRecord))]
        outcome = match(members, _existing_xref(session), ctx.config.matching.keys,
                        _hub_ids(session))
        _store_xref(session, outcome, ctx.run_id)
        counts = _golden_and_diffs(session, ctx, members, outcome)
        _store_metrics(session, ctx, outcome, counts)
    return dict(counts)


def _existing_xref(session: Session) -> dict[tuple[str, str], str]:
    return {(x.system, x.record_id): x.hub_id for x in session.scalars(select(Xref))}


def _hub_ids(session: Session):  # type: ignore[no-untyped-def]
    highest = session.scalar(select(func.max(Xref.hub_id))) or "H00000000"
    counter = iter(range(int(highest[1:]) + 1, 10**9))
    return lambda: f"H{next(counter):08d}"


def _store_xref(session: Session, outcome: MatchOutcome, run_id: str) -> None:
    existing = _existing_xref(session)
    for key, hub_id in outcome.hub_ids.items():
        if existing.get(key) != hub_id:
            session.merge(Xref(system=key[0], record_id=key[1], hub_id=hub_id,
                               rule=outcome.rules[key], run_id=run_id, linked_at=utcnow()))


def _golden_and_diffs(session: Session, ctx: RunContext, members: list[MemberRecord],
                      outcome: MatchOutcome) -> Counter[str]:
    counts: Counter[str] = Counter()
    session.execute(delete(Discrepancy).where(Discrepancy.run_id == ctx.run_id))
    systems = set(ctx.config.systems)
    carries = {name: set(load_spec(s.mapping).fields) for name, s in ctx.config.systems.items()}
    for hub_id, cluster in _clusters(members, outcome):
        golden = survive(cluster, _priorities(ctx.config), CUSTOMER_FIELDS)
        counts["golden_changed"] += _store_golden(session, hub_id, golden, ctx.run_id)
        found = differences(golden, [m for m in cluster if m.system in systems],
                            _receives(ctx.config), carries)
        _store_discrepancies(session, hub_id, found, ctx.run_id)
        counts["corrections"] += _fill_outbox(session, hub_id, found, ctx.run_id)
        counts["discrepancies"] += len(found)
    return counts


def _clusters(members: list[MemberRecord], outcome: MatchOutcome) -> Iterator[tuple[str, list[MemberRecord]]]:
    by_hub: dict[str, list[MemberRecord]] = defaultdict(list)
    for member in members:
        by_hub[outcome.hub_ids[member.key]].append(member)
    for hub_id in sorted(by_hub):
        # A company known only to a registry is not a customer of ours.
        if any(m.system != "ares" for m in by_hub[hub_id]):
            yield hub_id, by_hub[hub_id]


def _priorities(config: HubConfig) -> dict[str, list[str]]:
    return {f: config.survivorship.rule_for(f).sources for f in CUSTOMER_FIELDS}


def _receives(config: HubConfig) -> dict[str, list[str]]:
    return {name: s.receives for name, s in config.systems.items() if s.enabled}


def _store_golden(session: Session, hub_id: str, golden: Golden, run_id: str) -> int:
    """A new version only when a value changed: an unchanged estate adds no history."""
    current = session.scalar(select(GoldenRecord).where(GoldenRecord.hub_id == hub_id,
                                                        GoldenRecord.is_current.is_(True)))
    if current is not None and current.values == golden.values:
        return 0
    version = 1
    if current is not None:
        current.is_current, version = False, current.version + 1
        session.flush()
    session.add(GoldenRecord(hub_id=hub_id, version=version, values=golden.values,
                             lineage=golden.lineage, is_current=True, run_id=run_id,
                             created_at=utcnow()))
    return 1


def _store_discrepancies(session: Session, hub_id: str, found: list[Difference], run_id: str) -> None:
    for d in found:
        session.add(Discrepancy(run_id=run_id, hub_id=hub_id, system=d.system, record_id=d.record_id,
                                field=d.field, system_value=_text(d.system_value),
                                golden_value=_text(d.golden_value), source=d.source, rule=d.rule,
                                corrected=d.correct))


def _fill_outbox(session: Session, hub_id: str, found: list[Difference], run_id: str) -> int:
    added = 0
    for (system, record_id), values in corrections(found).items():
        source = session.scalar(select(SourceRecord).where(SourceRecord.system == system,
                                                           SourceRecord.record_id == record_id))
        # Keyed by the state being corrected: the same correction of the same state is one row,
        # however often the run repeats; a system that drifts again is corrected again.
        key = content_hash([system, record_id, values, source.content_hash if source else None])
        if session.scalar(select(Outbox.id).where(Outbox.idempotency_key == key)) is None:
            session.add(Outbox(idempotency_key=key, run_id=run_id, system=system, record_id=record_id,
                               hub_id=hub_id, values=values, status="pending",
                               expected_version=source.version if source else None,
                               created_at=utcnow()))
            added += 1
    return added


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _store_metrics(session: Session, ctx: RunContext, outcome: MatchOutcome, counts: Counter[str]) -> None:
    sizes = Counter(h for (s, _), h in outcome.hub_ids.items() if s in ctx.config.systems)
    per_system: dict[str, Counter[str]] = defaultdict(Counter)
    for (system, _), hub_id in outcome.hub_ids.items():
        per_system[system]["matched" if sizes[hub_id] > 1 else "unmatched"] += 1
        per_system[system]["new"] += hub_id in outcome.new_hub_ids
    for system in ctx.config.systems:
        for metric in ("matched", "new"):
            set_metric(session, ctx.run_id, system, metric, per_system[system][metric])
    for metric in ("golden_changed", "corrections", "discrepancies"):
        set_metric(session, ctx.run_id, "hub", metric, counts[metric])
    set_metric(session, ctx.run_id, "hub", "match_candidates", len(outcome.candidates))
