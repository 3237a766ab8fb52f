"""The match step over the hub store: load the records, let reconciliation.linking decide each
record's hub id, store the xref and the match questions it raised."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Row, Select, and_, bindparam, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from hub.pipeline.context import RunContext
from hub.pipeline.questions import ask, expire
from hub.store.bulk import bulk_insert, temporary_keys
from hub.store.db import IN_LIST_LIMIT, in_chunks
from hub.store.models import CanonicalRecord, SourceRecord, StewardDecision, Xref
from hub.xref_ops import hub_id_allocator
from reconciliation.decisions import PairDecision, parse_record_ref
from reconciliation.linking import (Links, XrefChanges, assign, linker_input, match_questions, steward_pairs,
                                   xref_changes)
from reconciliation.matching import Linker
from reconciliation.matching.fellegi_sunter import Model
from reconciliation.records import MemberRecord, RecordKey, RecordSet, XrefEntry


_FEW_KEYS = 4 * IN_LIST_LIMIT  # more keys than this are joined to a temporary table
_PART = 10_000


@dataclass
class Linking:
    links: Links
    candidates: int  # match questions newly asked
    model: Model | None = None  # the model the Linker scored with (None: it scored no pair)


def load_records(session: Session, keys: Sequence[RecordKey] | None = None) -> RecordSet:
    """Every record, or only ``keys`` (an incremental run's scope, hub.pipeline.scope)."""
    # Columns, not whole rows: the raw payloads are not needed here; the source record's
    # times come with the canonical row (a join), not from a dict of every source record.
    c, s = CanonicalRecord, SourceRecord
    members, hashes, deleted = [], {}, set()
    canonical = (select(c.system, c.record_id, c.values, c.source_hash, s.fetched_at, s.deleted_at)
                 .outerjoin(s, and_(s.system == c.system, s.record_id == c.record_id))
                 .order_by(c.system, c.record_id))
    for system, record_id, values, source_hash, fetched, gone in scoped_rows(session, canonical, keys, c):
        members.append(MemberRecord(system, record_id, values, fetched.isoformat() if fetched else None))
        hashes[(system, record_id)] = source_hash
        if gone is not None:
            deleted.add((system, record_id))
    members.sort(key=lambda m: m.key)  # a scope is read in chunks; the engine reads record order
    xref = {(system, record_id): XrefEntry(hub_id, rule, source_hash, gone)
            for system, record_id, hub_id, rule, source_hash, gone in scoped_rows(session, select(
                Xref.system, Xref.record_id, Xref.hub_id, Xref.rule, Xref.source_hash, Xref.source_deleted),
                keys, Xref)}
    return RecordSet(members, hashes, xref, deleted)


def scoped_rows(session: Session, query: Select[Any], keys: Sequence[RecordKey] | None,
                table: Any) -> Iterator[Row[Any]]:
    """The rows of ``query`` (over ``table``, a model keyed by system and record id), for
    ``keys`` only when given: a few keys by IN lists on the key, many (a settling night's
    scope is most of the estate) joined to a temporary table of them in one statement."""
    session.flush()  # Core statements below: what the session holds is written first, as it autoflushes
    if keys is None:  # Core rows, many at a time: no ORM loading per row
        for part in session.connection().execute(query).partitions(_PART):
            yield from part
        return
    if len(keys) > _FEW_KEYS:
        with temporary_keys(session, "reconcile_scope_key", {"system": 64, "record_id": 128},
                            ({"system": s, "record_id": r} for s, r in sorted(set(keys)))) as scope:
            rows = session.connection().execute(query.join(scope, and_(
                scope.c.system == table.system, scope.c.record_id == table.record_id)))
            for part in rows.partitions(_PART):  # fetched many at a time, not row by row
                yield from part
        return
    by_system: dict[str, list[str]] = defaultdict(list)
    for system, record_id in keys:
        by_system[system].append(record_id)
    for system, record_ids in sorted(by_system.items()):
        for chunk in in_chunks(sorted(record_ids)):
            yield from session.connection().execute(query.where(table.system == system,
                                                                table.record_id.in_(chunk)))


def link(session: Session, ctx: RunContext, records: RecordSet, frame: pl.DataFrame,
         model: Model | None = None) -> Linking:
    """``frame``: the records frame of ``records.members`` (reconciliation.members.records_frame);
    ``model``: the match model to score with (None: trained on these records)."""
    if not records.members:  # an incremental run with nothing to reconsider
        return Linking(Links(), 0)
    settings = ctx.config.matching
    material = settings.source_columns()
    pairs, expired = steward_pairs(_pair_decisions(session), records, material)
    expire(session, expired)
    result = Linker(settings).link(linker_input(frame, records), pairs, model)
    links = assign(result.clusters, hub_id_allocator(session))
    asked = ask(session, match_questions(result.candidates, links, material), ctx.run_id)
    _store_xref(session, xref_changes(links, records), ctx.run_id, records.deleted)
    _store_deleted(session, records)
    return Linking(links, asked, result.model)


def _store_deleted(session: Session, records: RecordSet) -> None:
    """Each record's deletion state as this run saw it: a change of it is in the next change set.
    (A record new to the xref got it with its row.)"""
    table = Xref.__table__
    rows = [{"k_system": k[0], "k_record_id": k[1], "source_deleted": k in records.deleted}
            for k, row in records.xref.items() if k in records.hashes and row.deleted != (k in records.deleted)]
    if rows:
        session.execute(update(table).where(table.c.system == bindparam("k_system"),
                                            table.c.record_id == bindparam("k_record_id"))
                        .values(source_deleted=bindparam("source_deleted")), rows)


def _pair_decisions(session: Session) -> list[PairDecision]:
    query = (select(StewardDecision.id, StewardDecision.kind, StewardDecision.record_a, StewardDecision.record_b,
                    StewardDecision.fingerprint)
             .where(StewardDecision.kind.in_(["match", "not_match"]), StewardDecision.expired_at.is_(None))
             .order_by(StewardDecision.id))
    return [PairDecision(parse_record_ref(a or ""), parse_record_ref(b or ""), kind == "match", fingerprint or "",
                         decision_id) for decision_id, kind, a, b, fingerprint in session.execute(query)]


def _store_xref(session: Session, changes: XrefChanges, run_id: str, deleted: set[RecordKey]) -> None:
    now, table = utcnow(), Xref.__table__
    bulk_insert(session, table, (
        {"system": c.key[0], "record_id": c.key[1], "hub_id": c.hub_id, "rule": c.rule, "run_id": run_id,
         "linked_at": now, "source_hash": c.source_hash, "source_deleted": c.key in deleted}
        for c in changes.added))
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
