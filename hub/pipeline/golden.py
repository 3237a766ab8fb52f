"""Golden records over the store: load what reconciliation decides on, call it, store what it decided.

The decisions (survivorship, conflicts, versions, differences, the outbox) are
reconciliation's (golden, conflicts, diff, outbox); this module reads their inputs as plain
values and writes their outcome in bulk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from hub.pipeline.context import RunContext
from hub.pipeline.questions import ask, expire
from hub.pipeline.linking import scoped_rows
from hub.pipeline.registries import EVIDENCED_FIELDS, evidence_of
from hub.store.bulk import bulk_insert
from hub.store.db import in_chunks
from hub.store.models import GoldenRecord, Outbox, ReviewItem, SourceRecord, StewardDecision
from mappings.customer import CUSTOMER_FIELDS
from reconciliation.conflicts import holds_its_field
from reconciliation.decisions import ChosenValue
from reconciliation.diff import differences_members
from reconciliation.golden import GoldenDecisions, RunRules, decide_golden
from reconciliation.members import with_entities
from reconciliation.outbox import OutboxEntry, SourceState, due, outbox_entries
from reconciliation.records import CurrentGolden, Difference, RecordKey, RecordSet
from reconciliation.survivorship_rules import rule_named


@dataclass
class GoldenOutcome:
    counts: Counter[str] = field(default_factory=Counter)
    differences: list[tuple[str, Difference]] = field(default_factory=list)  # (hub_id, difference)
    changes: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # hub_id, field, old, new
    would_send: Counter[str] = field(default_factory=Counter)  # outbox rows added, per system
    held: set[str] = field(default_factory=set)  # hub ids with a field a conflict holds


def build(session: Session, ctx: RunContext, records: RecordSet, frame: pl.DataFrame,
          hub_ids: dict[RecordKey, str], scope: Collection[str] | None = None) -> GoldenOutcome:
    """``frame``: the records frame of ``records.members`` (reconciliation.members.records_frame);
    ``scope``: the hub ids an incremental run decides again (None: every hub id), each with all
    its records among ``records``."""
    run = run_rules(ctx)
    hubs = None if scope is None else sorted({*scope, *hub_ids.values()})
    decided = decide_golden(records, frame, hub_ids, _currents(session, hubs), _chosen(session, hubs),
                            _evidence(session, records), run, _open_conflicts(session, hubs))
    _store_golden(session, decided, ctx.run_id)
    live = with_entities(frame, decided.live)
    found = differences_members(live, records.members, decided.goldens, run.receives, run.carries, run.fields,
                                decided.held, run.compare)
    outcome = GoldenOutcome(changes=decided.changes, held={h for h, fields in decided.held.items() if fields})
    outcome.differences = [(hub_id, d) for hub_id, listed in found.items() for d in listed]
    _fill_outbox(session, outcome, outbox_entries(found, _sources(session, records, scope is None)), ctx.run_id)
    outcome.counts += Counter({"golden_changed": len(decided.versions),  # += keeps no zero counts
                               "golden_changed_existing": len(decided.superseded),
                               "golden_created": len(decided.versions) - len(decided.superseded)})
    outcome.counts["retired"], outcome.counts["discrepancies"] = len(decided.retired), len(outcome.differences)
    return outcome


def run_rules(ctx: RunContext) -> RunRules:
    config = ctx.config
    return RunRules(
        run_id=ctx.run_id, systems=set(config.systems), vouches=EVIDENCED_FIELDS,
        rules={f: rule_named(r.rule, r.sources) for f in CUSTOMER_FIELDS for r in [config.survivorship.rule_for(f)]},
        carries={name: set(config.spec(name).fields) for name in config.systems},
        receives={name: s.receives for name, s in config.systems.items() if s.enabled},
        compare=config.survivorship.compare)


def _currents(session: Session, hubs: Sequence[str] | None) -> dict[str, CurrentGolden]:
    query = select(GoldenRecord.hub_id, GoldenRecord.version, GoldenRecord.values,
                   GoldenRecord.lineage).where(GoldenRecord.is_current.is_(True))
    return {hub_id: CurrentGolden(version, values, lineage)
            for hub_id, version, values, lineage in _for_hubs(session, query, GoldenRecord.hub_id, hubs)}


def _for_hubs(session: Session, query: Select[Any], column: Any, hubs: Sequence[str] | None) -> Iterator[Any]:
    """The rows of ``query``, only those of ``hubs`` when given (IN lists on an indexed column)."""
    if hubs is None:
        yield from session.execute(query)
        return
    for chunk in in_chunks(hubs):
        yield from session.execute(query.where(column.in_(chunk)))


def _chosen(session: Session, hubs: Sequence[str] | None) -> dict[str, dict[str, ChosenValue]]:
    out: dict[str, dict[str, ChosenValue]] = {}
    query = select(StewardDecision).where(StewardDecision.kind == "choose_value",
                                          StewardDecision.expired_at.is_(None))
    found = [d for d, in _for_hubs(session, query, StewardDecision.hub_id, hubs)]
    for d in sorted(found, key=lambda d: (d.decided_at, d.id)):  # a later decision on a field replaces an earlier one
        out.setdefault(d.hub_id, {})[d.field] = ChosenValue(d.hub_id, d.field, (d.value or {}).get("value"),
                                                            d.fingerprint or "", d.id, d.evidence)
    return out


def _open_conflicts(session: Session, hubs: Sequence[str] | None) -> dict[str, set[str]]:
    """The fields of the conflicts waiting for a steward, per hub id (those that hold a field)."""
    query = select(ReviewItem.hub_id, ReviewItem.field, ReviewItem.candidates).where(
        ReviewItem.kind == "conflict", ReviewItem.status == "open", ReviewItem.field.is_not(None))
    found: dict[str, set[str]] = {}
    for hub_id, name, candidates in _for_hubs(session, query, ReviewItem.hub_id, hubs):
        if hub_id and holds_its_field(candidates or {}):
            found.setdefault(hub_id, set()).add(name)
    return found


def _evidence(session: Session, records: RecordSet) -> dict[RecordKey, dict[str, Any]]:
    """The latest final check of each live registry record: the evidence its values carry."""
    live = [m for m in records.members if m.system in EVIDENCED_FIELDS and m.key not in records.deleted]
    found = {}
    for registry in sorted({m.system for m in live}):
        checks = evidence_of(session, registry, [m.record_id for m in live if m.system == registry])
        found.update({m.key: checks[m.record_id] for m in live
                      if m.system == registry and m.record_id in checks})
    return found


def _store_golden(session: Session, decided: GoldenDecisions, run_id: str) -> None:
    """New versions in one bulk insert, after the versions they replace stopped being current."""
    expire(session, decided.expired)
    ask(session, decided.questions, run_id)
    table = GoldenRecord.__table__
    for chunk in in_chunks([*decided.superseded, *decided.retired]):
        session.execute(update(table).where(table.c.hub_id.in_(chunk), table.c.is_current.is_(True))
                        .values(is_current=False))
    now = utcnow()
    bulk_insert(session, table, (
        {"hub_id": v.hub_id, "version": v.version, "values": v.values, "lineage": v.lineage,
         "is_current": True, "run_id": run_id, "created_at": now} for v in decided.versions))


def _sources(session: Session, records: RecordSet, every: bool) -> dict[RecordKey, SourceState]:
    query = select(SourceRecord.system, SourceRecord.record_id, SourceRecord.content_hash, SourceRecord.version,
                   SourceRecord.run_id)
    return {(s, r): SourceState(h, v, staged)
            for s, r, h, v, staged in scoped_rows(session, query, None if every else list(records.hashes), SourceRecord)}


def _fill_outbox(session: Session, outcome: GoldenOutcome, entries: list[OutboxEntry], run_id: str) -> None:
    statuses: dict[str, str] = {}
    for chunk in in_chunks([e.key for e in entries]):
        statuses.update(session.execute(select(Outbox.idempotency_key, Outbox.status)
                                        .where(Outbox.idempotency_key.in_(chunk))).tuples().all())
    added, again = due(entries, statuses)
    now = utcnow()
    bulk_insert(session, Outbox.__table__, (
        {"idempotency_key": e.key, "run_id": run_id, "system": e.system, "record_id": e.record_id,
         "hub_id": e.hub_id, "values": e.values, "status": "pending", "expected_version": e.expected_version,
         "created_at": now} for e in added))
    if again:  # skipped while the record was deleted; it came back as it was, so it is due again
        table = Outbox.__table__
        session.execute(update(table).where(table.c.idempotency_key == bindparam("k"))
                        .values(status="pending", error=None), [{"k": e.key} for e in again])
    for e in [*added, *again]:
        outcome.counts["corrections"] += 1
        outcome.would_send[e.system] += 1
