"""The match step over the hub store: records in, hub ids out, match candidates to the review queue.

Incremental: a record whose content is unchanged since it was last reconciled keeps its hub
id (the engine takes existing membership as given); new records and records whose content
changed are matched against everything; a changed record that finds nothing better keeps
its former hub id. A steward's placement (Xref.rule "steward") is never undone by a rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import polars as pl
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from hub.pipeline.context import RunContext
from hub.store.models import CanonicalRecord, ReviewItem, SourceRecord, StewardDecision, Xref
from hub.xref_ops import STEWARD_RULE, hub_id_allocator
from mappings.customer import CUSTOMER_FIELDS
from core.hashing import content_hash
from reconciliation.decisions import pair_fingerprint, parse_record_ref
from reconciliation.matching import Linker, StewardPairs
from reconciliation.records import MemberRecord, RecordKey


class XrefRow(NamedTuple):
    """A record's place in the xref as loaded: plain values, not ORM objects (there are millions)."""

    hub_id: str
    rule: str
    source_hash: str | None


@dataclass
class StoreRecords:
    members: list[MemberRecord]
    hashes: dict[RecordKey, str]
    xref: dict[RecordKey, XrefRow]
    deleted: set[RecordKey]
    moved: set[RecordKey] = field(default_factory=set)  # taken at load, before the xref is updated

    def changed(self, key: RecordKey) -> bool:
        """Content moved on since the record was last reconciled (unknown counts as unchanged)."""
        return key in self.moved


@dataclass
class Linking:
    hub_ids: dict[RecordKey, str] = field(default_factory=dict)
    rules: dict[RecordKey, str] = field(default_factory=dict)
    new_hub_ids: set[str] = field(default_factory=set)
    candidates: int = 0


def load_records(session: Session) -> StoreRecords:
    # Columns, not whole rows: the raw payloads are not needed here.
    seen = {(system, record_id): (fetched, gone) for system, record_id, fetched, gone in session.execute(
        select(SourceRecord.system, SourceRecord.record_id, SourceRecord.fetched_at, SourceRecord.deleted_at))}
    members, hashes = [], {}
    canonical = select(CanonicalRecord.system, CanonicalRecord.record_id, CanonicalRecord.values,
                       CanonicalRecord.source_hash).order_by(CanonicalRecord.system, CanonicalRecord.record_id)
    for system, record_id, values, source_hash in session.execute(canonical):
        source = seen.get((system, record_id))
        members.append(MemberRecord(system, record_id, dict(values), source[0].isoformat() if source else None))
        hashes[(system, record_id)] = source_hash
    xref = {(system, record_id): XrefRow(hub_id, rule, source_hash) for system, record_id, hub_id, rule, source_hash
            in session.execute(select(Xref.system, Xref.record_id, Xref.hub_id, Xref.rule, Xref.source_hash))}
    deleted = {k for k, (_, gone) in seen.items() if gone is not None}
    moved = {k for k, row in xref.items()
             if k in hashes and row.source_hash is not None and row.source_hash != hashes[k]}
    return StoreRecords(members, hashes, xref, deleted, moved)


def link(session: Session, ctx: RunContext, records: StoreRecords) -> Linking:
    settings = ctx.config.matching
    result = Linker(settings).link(_frame(records), _steward_pairs(session, records, settings.source_columns()))
    linking = _assign(session, records, result.clusters)
    linking.candidates = _queue_candidates(session, ctx, result.candidates, linking, settings.source_columns())
    _store_xref(session, records, linking, ctx.run_id)
    return linking


def _frame(records: StoreRecords) -> pl.DataFrame:
    """The records as the Linker reads them, built column by column (not a dict per record)."""
    hub, previous = [], []
    for m in records.members:
        row = records.xref.get(m.key)
        pinned = row is not None and (row.rule == STEWARD_RULE or not records.changed(m.key))
        hub.append(row.hub_id if pinned else None)
        previous.append(row.hub_id if row is not None and not pinned else None)
    columns = {"system": [m.system for m in records.members], "record_id": [m.record_id for m in records.members],
               "hub_id": hub, "previous_hub_id": previous,
               **{f: [_text(m.values.get(f)) for m in records.members] for f in CUSTOMER_FIELDS}}
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


def _steward_pairs(session: Session, records: StoreRecords, material: set[str]) -> StewardPairs:
    """Match / not-a-match decisions still valid; one whose records changed materially expires."""
    values = {m.key: m.values for m in records.members}
    must, cannot = [], []
    query = select(StewardDecision).where(StewardDecision.kind.in_(["match", "not_match"]),
                                          StewardDecision.expired_at.is_(None))
    for decision in session.scalars(query):
        a, b = parse_record_ref(decision.record_a or ""), parse_record_ref(decision.record_b or "")
        if a not in values or b not in values:
            continue  # a decision about a hub id (link/unlink) or a record gone: xref holds it
        if decision.fingerprint and decision.fingerprint != pair_fingerprint(values[a], values[b], sorted(material)):
            decision.expired_at = utcnow()
            continue
        (must if decision.kind == "match" else cannot).append((a, b))
    return StewardPairs(must_link=must, cannot_link=cannot)


def _assign(session: Session, records: StoreRecords, clusters: pl.DataFrame) -> Linking:
    linking, allocate = Linking(), hub_id_allocator(session)
    fresh: dict[int, str] = {}
    for system, record_id, cluster, hub_id, rule, _ in clusters.sort("system", "record_id").iter_rows():
        if hub_id is None:
            if cluster not in fresh:
                fresh[cluster] = allocate()
                linking.new_hub_ids.add(fresh[cluster])
            hub_id = fresh[cluster]
        linking.hub_ids[(system, record_id)] = hub_id
        linking.rules[(system, record_id)] = rule
    return linking


def _store_xref(session: Session, records: StoreRecords, linking: Linking, run_id: str) -> None:
    added, moved, rehashed = [], [], []
    for key, hub_id in linking.hub_ids.items():
        row, digest = records.xref.get(key), records.hashes[key]
        if row is None:
            added.append({"system": key[0], "record_id": key[1], "hub_id": hub_id, "rule": linking.rules[key],
                          "run_id": run_id, "linked_at": utcnow(), "source_hash": digest})
        elif row.hub_id != hub_id:
            moved.append({"k_system": key[0], "k_record_id": key[1], "hub_id": hub_id, "rule": linking.rules[key],
                          "run_id": run_id, "linked_at": utcnow(), "source_hash": digest})
        elif row.source_hash != digest:
            rehashed.append({"k_system": key[0], "k_record_id": key[1], "source_hash": digest})
    table = Xref.__table__
    if added:
        session.execute(insert(table), added)
    for changes, columns in ((moved, ("hub_id", "rule", "run_id", "linked_at", "source_hash")),
                             (rehashed, ("source_hash",))):
        if changes:  # executemany: one statement for every row that changed
            session.execute(update(table).where(table.c.system == bindparam("k_system"),
                                                table.c.record_id == bindparam("k_record_id"))
                            .values({c: bindparam(c) for c in columns}), changes)


def _queue_candidates(session: Session, ctx: RunContext, candidates: pl.DataFrame, linking: Linking,
                      material: set[str]) -> int:
    """Pairs in the review band become match_candidate items, each question asked once."""
    asked = 0
    for sa, ra, sb, rb, probability, reason in candidates.iter_rows():
        a, b = sorted([(sa, ra), (sb, rb)])
        question = content_hash(["match_candidate", a, b])
        if session.scalar(select(ReviewItem.id).where(ReviewItem.fingerprint == question)) is not None:
            continue
        session.add(ReviewItem(
            kind="match_candidate", fingerprint=question, hub_id=linking.hub_ids.get(a), system=a[0],
            record_id=a[1], other_system=b[0], other_record_id=b[1], run_id=ctx.run_id, created_at=utcnow(),
            candidates={"probability": round(probability, 4), "hub_a": linking.hub_ids.get(a),
                        "hub_b": linking.hub_ids.get(b), "material": sorted(material)},
            reason=f"{reason}: match probability {probability:.2f}"))
        asked += 1
    return asked


def clusters_by_hub(members: Sequence[MemberRecord], hub_ids: dict[RecordKey, str]) -> dict[str, list[MemberRecord]]:
    by_hub: dict[str, list[MemberRecord]] = defaultdict(list)
    for member in members:
        by_hub[hub_ids[member.key]].append(member)
    return dict(by_hub)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
