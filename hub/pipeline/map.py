"""Map: turn each staged payload whose content changed into a canonical Customer.

Records are mapped in batches through ``mappings.frames.map_frame`` (normalizers run once
per distinct value, the result is what ``map_record`` gives); a spec the frame engine
cannot run (ARES reads nested JSON) and a payload with non-text values (the accounting
view's numbers, whose repr the quarantine reason shows) go through ``map_record``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Row, and_, delete, or_, select
from sqlalchemy.orm import Session

from hub.pipeline.context import RunContext, set_metric
from hub.pipeline.preview import replay
from hub.pipeline.registry_queue import KEY_FIELDS
from hub.pipeline.stage import quarantine_many
from hub.pipeline.timings import advanced
from hub.store.bulk import bulk_insert
from hub.store.db import in_chunks, session_scope
from hub.store.models import CanonicalRecord, Run, RunMetric, SourceRecord
from mappings.engine import map_record
from mappings.errors import MappingError
from mappings.frames import frame_supported, map_frame
from mappings.spec import MappingSpec

BATCH = 5_000
_ROW = "\x00row"  # the batch position: a column no system has


def map_system(ctx: RunContext, system: str) -> dict[str, int]:
    """Map what changed since the last mapping; a record that no longer maps leaves
    reconciliation. A dry run maps what it read inside a transaction it rolls back
    (``hub.pipeline.preview``), for its figures only."""
    with session_scope(ctx.engine) as session:
        dry_run = session.get(Run, ctx.run_id).dry_run
    if dry_run:
        return _map_preview(ctx, system)
    with session_scope(ctx.engine) as session:
        counts = map_in(session, ctx, system)
        _set_metrics(session, ctx, system, counts, _extracted(session, ctx.run_id, system))
    return dict(counts)


def map_in(session: Session, ctx: RunContext, system: str) -> Counter[str]:
    """Map ``system``'s unmapped staged records in ``session``'s transaction, a batch at a time
    in record id order (a query per batch, so neither store holds more than a batch)."""
    spec = ctx.config.spec(system)
    counts: Counter[str] = Counter()
    after: str | None = None
    while batch := session.execute(_unmapped(system, after)).all():
        after = batch[-1].record_id
        # The batch's old canonical rows go; those that still map come back in one bulk insert.
        before = _replaced(session, system, [source.record_id for source in batch if source.mapped_before])
        mapped, bad = [], []
        for source, outcome in zip(batch, _map_batch(spec, batch, ctx.config.mapping.workers), strict=True):
            if isinstance(outcome, str):
                bad.append((source.record_id, outcome,
                            json.dumps(source.payload, ensure_ascii=False, default=str)))
                continue
            keys, keys_run = before.get(source.record_id, (None, None))
            mapped.append({"system": system, "record_id": source.record_id, "values": outcome,
                           "source_hash": source.content_hash, "run_id": ctx.run_id,
                           "keys_run_id": keys_run if keys == _keys(outcome) else ctx.run_id})
        counts["quarantined"] += quarantine_many(session, system, ctx.run_id, "map", bad)
        counts["mapped"] += bulk_insert(session, CanonicalRecord.__table__, mapped)
        advanced(counts["mapped"] + counts["quarantined"])
    return counts


def _replaced(session: Session, system: str,
              record_ids: list[str]) -> dict[str, tuple[tuple[Any, ...], str]]:
    """Delete these records' canonical rows; per record, its registry keys and the run that
    wrote them, which a re-mapped record with the same keys keeps."""
    table, before = CanonicalRecord.__table__, {}
    for chunk in in_chunks(record_ids):
        where = (table.c.system == system, table.c.record_id.in_(chunk))
        for record_id, values, run_id, keys_run in session.execute(select(
                table.c.record_id, table.c["values"], table.c.run_id, table.c.keys_run_id).where(*where)):
            before[record_id] = (_keys(values), keys_run or run_id)
        session.execute(delete(table).where(*where))
    return before


def _keys(values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(values.get(f) for f in KEY_FIELDS)


def _map_preview(ctx: RunContext, system: str) -> dict[str, int]:
    with Session(ctx.engine) as session, session.begin() as tx:
        extracted = replay(session, ctx.run_id, [system])[system]
        counts = map_in(session, ctx, system)
        tx.rollback()
    with session_scope(ctx.engine) as session:
        for metric in ("new", "changed", "stale", "duplicate_key", "rejected",
                       "deleted_at_source", "key_drift"):
            set_metric(session, ctx.run_id, system, metric, extracted[metric])
        _set_metrics(session, ctx, system, counts, extracted)
    return dict(counts)


def _set_metrics(session: Session, ctx: RunContext, system: str, counts: Counter[str],
                 extracted: Mapping[str, int]) -> None:
    # Quarantined: what could not be read, what could not be mapped, every row of a doubled key.
    quarantined = counts["quarantined"] + extracted.get("rejected", 0) + extracted.get(
        "duplicate_key", 0)
    set_metric(session, ctx.run_id, system, "quarantined", quarantined)
    set_metric(session, ctx.run_id, system, "mapped", counts["mapped"])


def _extracted(session: Session, run_id: str, system: str) -> dict[str, int]:
    return {metric: _metric(session, run_id, system, metric)
            for metric in ("rejected", "duplicate_key")}


def _map_batch(spec: MappingSpec, batch: Sequence[Row[Any]],
               workers: int = 1) -> list[dict[str, Any] | str]:
    """Per record, in order: Customer.present(), or the MappingError text to quarantine with."""
    columns = spec.source_columns()  # fallback sources included
    texts = [_as_text(s.payload, columns) for s in batch] if frame_supported(spec) else []
    framed = [i for i, t in enumerate(texts) if t is not None]
    outcomes: list[dict[str, Any] | str | None] = [None] * len(batch)
    if framed:
        raw = pl.DataFrame({_ROW: [str(i) for i in framed]} | {
            c: [texts[i][c] for i in framed] for c in columns},  # type: ignore[index]
            schema={_ROW: pl.String} | {c: pl.String for c in columns})
        result = map_frame(spec, raw, id_column=_ROW, workers=workers)
        for row, values in result.presents():
            outcomes[int(row)] = values
        for row, reason in result.quarantined.iter_rows():
            outcomes[int(row)] = reason
    for i, source in enumerate(batch):
        if outcomes[i] is None:
            try:
                outcomes[i] = map_record(spec, source.payload).present()
            except MappingError as e:
                outcomes[i] = str(e)
    return outcomes  # type: ignore[return-value]


def _as_text(payload: Any, columns: Sequence[str]) -> dict[str, str | None] | None:
    """The payload's columns as the text every normalizer reads them as (``as_str``, and
    ``parse_decimal`` reads an int or a float as its ``str``): an accounting view's whole
    numbers then take the column-wise path too. None: a value only map_record reads alike
    (a bool, a non-finite float, a nested value)."""
    if not isinstance(payload, dict):
        return None
    texts: dict[str, str | None] = {}
    for c in columns:
        value = payload.get(c)
        if value is None or isinstance(value, str):
            texts[c] = value
        elif type(value) is int or (type(value) is float and math.isfinite(value)):
            texts[c] = str(value)
        else:
            return None
    return texts


def _unmapped(system: str, after: str | None):  # type: ignore[no-untyped-def]
    """The next batch of records of ``system`` with no canonical row, or one of older content."""
    joined = and_(CanonicalRecord.system == SourceRecord.system,
                  CanonicalRecord.record_id == SourceRecord.record_id)
    query = (select(SourceRecord.record_id, SourceRecord.payload, SourceRecord.content_hash,
                    CanonicalRecord.record_id.is_not(None).label("mapped_before"))
             .outerjoin(CanonicalRecord, joined)
             .where(SourceRecord.system == system)
             .where(or_(CanonicalRecord.record_id.is_(None),
                        CanonicalRecord.source_hash != SourceRecord.content_hash)))
    if after is not None:
        query = query.where(SourceRecord.record_id > after)
    return query.order_by(SourceRecord.record_id).limit(BATCH)


def _metric(session: Session, run_id: str, system: str, metric: str) -> int:
    row = session.get(RunMetric, (run_id, system, metric))
    return row.value if row else 0
