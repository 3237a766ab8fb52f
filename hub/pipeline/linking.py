"""The match step over the hub store: load the records, let reconciliation.linking decide each
record's hub id, store the xref and the match questions it raised."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from hub.pipeline.context import RunContext
from hub.pipeline.questions import ask, expire
from hub.store.bulk import bulk_insert
from hub.store.models import CanonicalRecord, SourceRecord, StewardDecision, Xref
from hub.xref_ops import hub_id_allocator
from reconciliation.decisions import PairDecision, parse_record_ref
from reconciliation.linking import (Links, XrefChanges, assign, linker_input, match_questions, steward_pairs,
                                   xref_changes)
from reconciliation.matching import Linker
from reconciliation.records import MemberRecord, RecordSet, XrefEntry


@dataclass
class Linking:
    links: Links
    candidates: int  # match questions newly asked


def load_records(session: Session) -> RecordSet:
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
    xref = {(system, record_id): XrefEntry(hub_id, rule, source_hash) for system, record_id, hub_id, rule, source_hash
            in session.execute(select(Xref.system, Xref.record_id, Xref.hub_id, Xref.rule, Xref.source_hash))}
    deleted = {k for k, (_, gone) in seen.items() if gone is not None}
    return RecordSet(members, hashes, xref, deleted)


def link(session: Session, ctx: RunContext, records: RecordSet, frame: pl.DataFrame) -> Linking:
    """``frame``: the records frame of ``records.members`` (reconciliation.members.records_frame)."""
    settings = ctx.config.matching
    material = settings.source_columns()
    pairs, expired = steward_pairs(_pair_decisions(session), records, material)
    expire(session, expired)
    result = Linker(settings).link(linker_input(frame, records), pairs)
    links = assign(result.clusters, hub_id_allocator(session))
    asked = ask(session, match_questions(result.candidates, links, material), ctx.run_id)
    _store_xref(session, xref_changes(links, records), ctx.run_id)
    return Linking(links, asked)


def _pair_decisions(session: Session) -> list[PairDecision]:
    query = (select(StewardDecision.id, StewardDecision.kind, StewardDecision.record_a, StewardDecision.record_b,
                    StewardDecision.fingerprint)
             .where(StewardDecision.kind.in_(["match", "not_match"]), StewardDecision.expired_at.is_(None))
             .order_by(StewardDecision.id))
    return [PairDecision(parse_record_ref(a or ""), parse_record_ref(b or ""), kind == "match", fingerprint or "",
                         decision_id) for decision_id, kind, a, b, fingerprint in session.execute(query)]


def _store_xref(session: Session, changes: XrefChanges, run_id: str) -> None:
    now, table = utcnow(), Xref.__table__
    bulk_insert(session, table, (
        {"system": c.key[0], "record_id": c.key[1], "hub_id": c.hub_id, "rule": c.rule, "run_id": run_id,
         "linked_at": now, "source_hash": c.source_hash} for c in changes.added))
    moved = [{"k_system": c.key[0], "k_record_id": c.key[1], "hub_id": c.hub_id, "rule": c.rule, "run_id": run_id,
              "linked_at": now, "source_hash": c.source_hash} for c in changes.moved]
    rehashed = [{"k_system": c.key[0], "k_record_id": c.key[1], "source_hash": c.source_hash}
                for c in changes.rehashed]
    for rows, columns in ((moved, ("hub_id", "rule", "run_id", "linked_at", "source_hash")),
                          (rehashed, ("source_hash",))):
        if rows:  # executemany: one statement for every row that changed
            session.execute(update(table).where(table.c.system == bindparam("k_system"),
                                                table.c.record_id == bindparam("k_record_id"))
                            .values({c: bindparam(c) for c in columns}), rows)
