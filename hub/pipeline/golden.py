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

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from core.clock import utcnow
from hub.pipeline.context import RunContext
from hub.pipeline.linking import StoreRecords, clusters_by_hub
from hub.pipeline.publish import SKIPPED_DELETED
from hub.pipeline.registries import REGISTRY_SYSTEMS, field_evidence
from hub.store.db import in_chunks
from hub.store.models import GoldenRecord, Outbox, ReviewItem, SourceRecord, StewardDecision
from mappings.customer import CUSTOMER_FIELDS
from core.hashing import content_hash
from reconciliation.decisions import ChosenValue, chosen_holds
from reconciliation.diff import correction_key, corrections, differences_many
from reconciliation.records import Difference, Golden, MemberRecord, RecordKey
from reconciliation.survivorship import FieldRule, survive_many

HELD = "held: conflict"


@dataclass
class GoldenOutcome:
    counts: Counter[str] = field(default_factory=Counter)
    differences: list[tuple[str, Difference]] = field(default_factory=list)  # (hub_id, difference)
    changes: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # hub_id, field, old, new
    would_send: Counter[str] = field(default_factory=Counter)  # outbox rows added, per system
    versions: list[dict[str, Any]] = field(default_factory=list)  # new golden record versions


def build(session: Session, ctx: RunContext, records: StoreRecords, hub_ids: dict[RecordKey, str]) -> GoldenOutcome:
    outcome = GoldenOutcome()
    rules = _rules(ctx.config)
    chosen = _chosen(session)
    carries = {name: set(ctx.config.spec(name).fields) for name in ctx.config.systems}
    receives = {name: s.receives for name, s in ctx.config.systems.items() if s.enabled}
    clusters = clusters_by_hub(records.members, hub_ids)
    # A record deleted at its source keeps its hub id (it may come back) but no longer speaks
    # for the company. A hub left without a live record of ours keeps its golden record as it
    # is: the deleted_at_source review item asks a steward what to do with it.
    speaking = {hub_id: [m for m in clusters[hub_id] if m.key not in records.deleted] for hub_id in sorted(clusters)}
    speaking = {h: c for h, c in speaking.items() if any(m.system in ctx.config.systems for m in c)}
    currents = _currents(session)
    choices = {h: _holding(chosen[h], speaking[h]) for h in chosen if h in speaking}
    goldens = survive_many(speaking, rules, CUSTOMER_FIELDS, ctx.run_id, choices)
    evidence = _RegistryEvidence(session)
    held_by_hub: dict[str, set[str]] = {}
    for hub_id, cluster in speaking.items():
        current = currents.get(hub_id)
        held = _conflicts(session, ctx, records, hub_id, cluster, current, rules, chosen.get(hub_id, {}))
        goldens[hub_id] = evidence.added(_hold(goldens[hub_id], current, held))
        _version(session, outcome, hub_id, goldens[hub_id], current, ctx.run_id)
        held_by_hub[hub_id] = held
    _insert_versions(session, outcome.versions)
    live = {h: (goldens[h], [m for m in c if m.system in ctx.config.systems]) for h, c in speaking.items()}
    found = differences_many(live, receives, carries, CUSTOMER_FIELDS, held_by_hub)
    for hub_id in speaking:
        outcome.differences += [(hub_id, d) for d in found[hub_id]]
    _fill_outbox(session, outcome, {h: corrections(found[h]) for h in speaking}, ctx.run_id)
    outcome.counts["retired"] = _retire(currents, set(clusters))
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


def _currents(session: Session) -> dict[str, GoldenRecord]:
    rows = session.scalars(select(GoldenRecord).where(GoldenRecord.is_current.is_(True)))
    return {row.hub_id: row for row in rows}


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
    question = content_hash(["conflict", hub_id, name, candidates])
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


class _RegistryEvidence:
    """A value taken from a registry record names the check that vouches for it: what an
    accountant shows an auditor (which register said so, and when). Each check is read once."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._found: dict[tuple[str, str, str], dict[str, Any] | None] = {}

    def added(self, golden: Golden) -> Golden:
        lineage = dict(golden.lineage)
        for name, origin in golden.lineage.items():
            if origin.get("source") not in REGISTRY_SYSTEMS:
                continue
            ref = (origin["source"], origin.get("record_id") or "", name)
            if ref not in self._found:
                self._found[ref] = field_evidence(self._session, *ref)
            if self._found[ref] is not None:
                lineage[name] = {**origin, "registry_evidence": self._found[ref]}
        return Golden(golden.values, lineage)


def _version(session: Session, outcome: GoldenOutcome, hub_id: str, golden: Golden,
             current: GoldenRecord | None, run_id: str) -> None:
    """A new version only when a value changed: an unchanged estate adds no history."""
    if current is not None and current.values == golden.values:
        return
    version = 1
    if current is not None:
        current.is_current, version = False, current.version + 1
        outcome.counts["golden_changed_existing"] += 1
        old = current.values
        outcome.changes += [(hub_id, f, old.get(f), golden.values.get(f))
                            for f in sorted(set(old) | set(golden.values)) if old.get(f) != golden.values.get(f)]
    else:
        outcome.counts["golden_created"] += 1
        outcome.changes += [(hub_id, f, None, v) for f, v in sorted(golden.values.items())]
    outcome.counts["golden_changed"] += 1
    outcome.versions.append({"hub_id": hub_id, "version": version, "values": golden.values,
                             "lineage": golden.lineage, "is_current": True, "run_id": run_id,
                             "created_at": utcnow()})


def _insert_versions(session: Session, versions: list[dict[str, Any]]) -> None:
    """One bulk insert, after the versions they replace stopped being current."""
    session.flush()
    if versions:
        session.execute(insert(GoldenRecord.__table__), versions)


def _retire(currents: dict[str, GoldenRecord], alive: set[str]) -> int:
    """A hub id left without records (merged away) has no current version any more; history stays."""
    gone = [row for hub_id, row in currents.items() if hub_id not in alive]
    for row in gone:
        row.is_current = False
    return len(gone)


def _fill_outbox(session: Session, outcome: GoldenOutcome, by_hub: dict[str, dict[RecordKey, dict[str, Any]]],
                 run_id: str) -> None:
    sources = {(s, r): (h, v) for s, r, h, v in session.execute(
        select(SourceRecord.system, SourceRecord.record_id, SourceRecord.content_hash, SourceRecord.version))}
    due = [(hub_id, ref, values, correction_key(*ref, values, sources.get(ref, (None, None))[0]))
           for hub_id, found in by_hub.items() for ref, values in found.items()]
    existing = _outbox_rows(session, [key for *_, key in due])
    added = []
    for hub_id, (system, record_id), values, key in due:
        row = existing.get(key)
        if row is not None and row.status != SKIPPED_DELETED:
            continue
        if row is None:
            added.append({"idempotency_key": key, "run_id": run_id, "system": system, "record_id": record_id,
                          "hub_id": hub_id, "values": values, "status": "pending",
                          "expected_version": sources.get((system, record_id), (None, None))[1],
                          "created_at": utcnow()})
        else:  # skipped while the record was deleted; it came back as it was, so it is due again
            row.status, row.error = "pending", None
        outcome.counts["corrections"] += 1
        outcome.would_send[system] += 1
    if added:
        session.execute(insert(Outbox.__table__), added)


def _outbox_rows(session: Session, keys: list[str]) -> dict[str, Outbox]:
    found: dict[str, Outbox] = {}
    for chunk in in_chunks(keys):
        found.update((row.idempotency_key, row) for row in
                     session.scalars(select(Outbox).where(Outbox.idempotency_key.in_(chunk))))
    return found
