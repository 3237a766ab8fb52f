"""Golden records over the store: survivorship, versions, conflicts, differences and the outbox.

A conflict is two trusted sources (those a field's rule lists) changing the same field to
different values since the last run. The field then keeps its previous golden value,
nothing is corrected on it, and a ReviewItem asks a steward; the steward's choice is the
top rule from the next run on, until a source takes a value of the field that is neither
the chosen one nor the one it held then (reconciliation.decisions.chosen_holds).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.pipeline.context import RunContext, content_hash, utcnow
from hub.pipeline.linking import StoreRecords, clusters_by_hub
from hub.pipeline.publish import SKIPPED_DELETED
from hub.pipeline.registries import REGISTRY_SYSTEMS, field_evidence
from hub.store.models import GoldenRecord, Outbox, ReviewItem, SourceRecord, StewardDecision
from mappings.customer import CUSTOMER_FIELDS
from mappings.engine import load_spec
from reconciliation.decisions import ChosenValue, chosen_holds, fingerprint
from reconciliation.diff import corrections, differences
from reconciliation.records import Difference, Golden, MemberRecord, RecordKey
from reconciliation.survivorship import FieldRule, survive

HELD = "held: conflict"


@dataclass
class GoldenOutcome:
    counts: Counter[str] = field(default_factory=Counter)
    differences: list[tuple[str, Difference]] = field(default_factory=list)  # (hub_id, difference)
    changes: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # hub_id, field, old, new
    would_send: Counter[str] = field(default_factory=Counter)  # outbox rows added, per system


def build(session: Session, ctx: RunContext, records: StoreRecords, hub_ids: dict[RecordKey, str]) -> GoldenOutcome:
    outcome = GoldenOutcome()
    rules = _rules(ctx.config)
    chosen = _chosen(session)
    carries = {name: set(load_spec(s.mapping).fields) for name, s in ctx.config.systems.items()}
    receives = {name: s.receives for name, s in ctx.config.systems.items() if s.enabled}
    clusters = clusters_by_hub(records.members, hub_ids)
    for hub_id in sorted(clusters):
        # A record deleted at its source keeps its hub id (it may come back) but no longer speaks
        # for the company. A hub left without a live record of ours keeps its golden record as it
        # is: the deleted_at_source review item asks a steward what to do with it.
        cluster = [m for m in clusters[hub_id] if m.key not in records.deleted]
        if all(m.system not in ctx.config.systems for m in cluster):
            continue  # a company known only to a registry is not a customer of ours
        current = _current(session, hub_id)
        golden = survive(cluster, rules, CUSTOMER_FIELDS, ctx.run_id, _holding(chosen.get(hub_id, {}), cluster))
        held = _conflicts(session, ctx, records, hub_id, cluster, current, rules, chosen.get(hub_id, {}))
        golden = _hold(golden, current, held)
        golden = _with_registry_evidence(session, golden)
        _version(session, outcome, hub_id, golden, current, ctx.run_id)
        live = [m for m in cluster if m.system in ctx.config.systems and m.key not in records.deleted]
        found = differences(golden, live, {s: [f for f in r if f not in held] for s, r in receives.items()}, carries)
        outcome.differences += [(hub_id, d) for d in found]
        _fill_outbox(session, outcome, hub_id, found, ctx.run_id)
    outcome.counts["retired"] = _retire(session, set(clusters))
    outcome.counts["discrepancies"] = len(outcome.differences)
    return outcome


def _rules(config: HubConfig) -> dict[str, FieldRule]:
    return {f: FieldRule(r.rule, tuple(r.sources)) for f in CUSTOMER_FIELDS
            for r in [config.survivorship.rule_for(f)]}


def _chosen(session: Session) -> dict[str, dict[str, tuple[ChosenValue, StewardDecision]]]:
    out: dict[str, dict[str, tuple[ChosenValue, StewardDecision]]] = {}
    query = (select(StewardDecision).where(StewardDecision.kind == "choose_value",
                                           StewardDecision.expired_at.is_(None))
             .order_by(StewardDecision.decided_at))
    for d in session.scalars(query):  # a later decision on the same field replaces an earlier one
        choice = ChosenValue(d.hub_id, d.field, (d.value or {}).get("value"), d.fingerprint or "", d.id,
                             d.evidence)
        out.setdefault(d.hub_id, {})[d.field] = (choice, d)
    return out


def _holding(chosen: dict[str, tuple[ChosenValue, StewardDecision]],
             cluster: Sequence[MemberRecord]) -> dict[str, ChosenValue]:
    """The choices whose evidence still holds; the others expire (their sources changed)."""
    valid = {}
    for name, (choice, decision) in chosen.items():
        if chosen_holds(choice, cluster):
            valid[name] = choice
        else:
            decision.expired_at = utcnow()
    return valid


def _current(session: Session, hub_id: str) -> GoldenRecord | None:
    return session.scalar(select(GoldenRecord).where(GoldenRecord.hub_id == hub_id,
                                                     GoldenRecord.is_current.is_(True)))


def _conflicts(session: Session, ctx: RunContext, records: StoreRecords, hub_id: str,
               cluster: Sequence[MemberRecord], current: GoldenRecord | None,
               rules: dict[str, FieldRule], chosen: dict[str, tuple[ChosenValue, StewardDecision]]) -> set[str]:
    """Fields two trusted sources changed to different values since the last run."""
    if current is None:
        return set()
    changed = [m for m in cluster if records.changed(m.key)]
    held = set()
    for name, rule in rules.items():
        if name in chosen and chosen_holds(chosen[name][0], cluster):
            continue
        before = current.values.get(name)
        moved = {m.key: m.values[name] for m in changed if m.system in rule.sources
                 and m.values.get(name) is not None and m.values.get(name) != before}
        if len({system for system, _ in moved}) > 1 and len({str(v) for v in moved.values()}) > 1:
            held.add(name)
            _ask(session, ctx.run_id, hub_id, name, before, moved)
    return held


def _ask(session: Session, run_id: str, hub_id: str, name: str, before: Any,
         moved: dict[RecordKey, Any]) -> None:
    candidates = {f"{system}:{record_id}": v for (system, record_id), v in sorted(moved.items())}
    question = fingerprint(["conflict", hub_id, name, candidates])
    if session.scalar(select(ReviewItem.id).where(ReviewItem.fingerprint == question)) is not None:
        return
    first = min(moved)
    session.add(ReviewItem(kind="conflict", fingerprint=question, hub_id=hub_id, system=first[0],
                           record_id=first[1], field=name, run_id=run_id, created_at=utcnow(),
                           candidates={**candidates, "golden": before},
                           reason=f"{', '.join(sorted({s for s, _ in moved}))} changed {name} differently"))


def _hold(golden: Golden, current: GoldenRecord | None, held: set[str]) -> Golden:
    if not held or current is None:
        return golden
    values, lineage = dict(golden.values), dict(golden.lineage)
    for name in held:
        if current.values.get(name) is None:
            values.pop(name, None)
            lineage.pop(name, None)
            continue
        values[name] = current.values[name]
        lineage[name] = {**current.lineage.get(name, {}), "rule": HELD}
    return Golden(values, lineage)


def _with_registry_evidence(session: Session, golden: Golden) -> Golden:
    """A value taken from a registry record names the check that vouches for it: what an
    accountant shows an auditor (which register said so, and when)."""
    lineage = dict(golden.lineage)
    for name, origin in golden.lineage.items():
        if origin.get("source") not in REGISTRY_SYSTEMS:
            continue
        found = field_evidence(session, origin["source"], origin.get("record_id") or "", name)
        if found is not None:
            lineage[name] = {**origin, "registry_evidence": found}
    return Golden(golden.values, lineage)


def _version(session: Session, outcome: GoldenOutcome, hub_id: str, golden: Golden,
             current: GoldenRecord | None, run_id: str) -> None:
    """A new version only when a value changed: an unchanged estate adds no history."""
    if current is not None and current.values == golden.values:
        return
    version = 1
    if current is not None:
        current.is_current, version = False, current.version + 1
        session.flush()
        outcome.counts["golden_changed_existing"] += 1
        old = current.values
        outcome.changes += [(hub_id, f, old.get(f), golden.values.get(f))
                            for f in sorted(set(old) | set(golden.values)) if old.get(f) != golden.values.get(f)]
    else:
        outcome.counts["golden_created"] += 1
        outcome.changes += [(hub_id, f, None, v) for f, v in sorted(golden.values.items())]
    outcome.counts["golden_changed"] += 1
    session.add(GoldenRecord(hub_id=hub_id, version=version, values=golden.values, lineage=golden.lineage,
                             is_current=True, run_id=run_id, created_at=utcnow()))


def _retire(session: Session, alive: set[str]) -> int:
    """A hub id left without records (merged away) has no current version any more; history stays."""
    retired = 0
    for row in session.scalars(select(GoldenRecord).where(GoldenRecord.is_current.is_(True))):
        if row.hub_id not in alive:
            row.is_current = False
            retired += 1
    return retired


def _fill_outbox(session: Session, outcome: GoldenOutcome, hub_id: str, found: list[Difference], run_id: str) -> None:
    for (system, record_id), values in corrections(found).items():
        source = session.scalar(select(SourceRecord).where(SourceRecord.system == system,
                                                           SourceRecord.record_id == record_id))
        # Keyed by the state being corrected: the same correction of the same state is one row,
        # however often the run repeats; a system that drifts again is corrected again.
        key = content_hash([system, record_id, values, source.content_hash if source else None])
        existing = session.scalar(select(Outbox).where(Outbox.idempotency_key == key))
        if existing is not None and existing.status != SKIPPED_DELETED:
            continue
        if existing is None:
            session.add(Outbox(idempotency_key=key, run_id=run_id, system=system, record_id=record_id,
                               hub_id=hub_id, values=values, status="pending",
                               expected_version=source.version if source else None, created_at=utcnow()))
        else:  # skipped while the record was deleted; it came back as it was, so it is due again
            existing.status, existing.error = "pending", None
        outcome.counts["corrections"] += 1
        outcome.would_send[system] += 1
