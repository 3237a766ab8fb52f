"""Map: turn each staged payload whose content changed into a canonical Customer.

Records are mapped in batches through ``mappings.frames.map_frame`` (normalizers run once
per distinct value, the result is what ``map_record`` gives); a spec the frame engine
cannot run (ARES reads nested JSON) and a payload with non-text values (the accounting
view's numbers, whose repr the quarantine reason shows) go through ``map_record``.

A system's records may be mapped in partitions (``orchestration.partitions.map``), one Airflow
task each: partition i of n holds the records whose CRC-32 of the record id is i modulo n,
computed here over the ids the batching query reads in key order, so that every store agrees
and the query keeps walking the (system, record_id) index. Partitions touch disjoint rows
(their records' canonical and quarantine rows, their own figures), so on PostgreSQL they
commit side by side without waiting on each other; the system's figures are their sums
(``add_up_partitions``).
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

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
SCAN_LIMIT = 40_000  # ids one batching query reads for a partition: a batch's worth of its own
_ROW = "\x00row"  # the batch position: a column no system has
# The figures a partition keeps under its own names ("mapped@2/4"), summed into the system's.
PARTITIONED = ("mapped", "quarantined", "map_ms")


@dataclass(frozen=True)
class Partition:
    """Partition ``index`` of ``count`` of a system's records."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"partition {self.index} of {self.count} does not exist")

    def holds(self, record_id: str) -> bool:
        # CRC-32: stable across processes and platforms (Python's hash() is salted per process).
        return self.count == 1 or zlib.crc32(record_id.encode("utf-8")) % self.count == self.index

    def metric(self, name: str) -> str:
        return f"{name}@{self.index}/{self.count}"


WHOLE = Partition()


class _Staged(NamedTuple):
    """A staged record to map, as the batching query gives it."""

    record_id: str
    payload: Any
    content_hash: str
    mapped_before: bool


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


def map_partition(ctx: RunContext, system: str, part: Partition) -> dict[str, int]:
    """Map one partition of ``system``'s changed records, its figures kept under names of its
    own. They commit with the records, so a re-run of the partition in the same run (Airflow's
    retry after the worker died, before or after the commit) adds what it mapped itself to
    what earlier attempts committed: each record the run mapped counts once, and only this
    partition's figures change. A dry run is not split: its preview replays the system's whole
    extraction, so partition 0 previews the system and the others do nothing."""
    if part.count == 1:
        return map_system(ctx, system)
    with session_scope(ctx.engine) as session:
        dry_run = session.get(Run, ctx.run_id).dry_run
    started = time.perf_counter()
    if dry_run:
        counts: Mapping[str, int] = map_system(ctx, system) if part.index == 0 else {}
    else:
        with session_scope(ctx.engine) as session:  # the records and their figures commit together
            counts = map_in(session, ctx, system, part)
            for name in ("mapped", "quarantined"):
                earlier = _metric(session, ctx.run_id, system, part.metric(name))
                set_metric(session, ctx.run_id, system, part.metric(name), earlier + counts[name])
    with session_scope(ctx.engine) as session:
        set_metric(session, ctx.run_id, system, part.metric("map_ms"),
                   round((time.perf_counter() - started) * 1000))
    return dict(counts)


def add_up_partitions(ctx: RunContext, count: int) -> None:
    """Each system's map figures as the sums of its partitions' (``count`` of them), as one
    task mapping the whole system would have kept them; run once every partition has ended.
    A system no partition mapped (left out of the run) gets none."""
    if count == 1:
        return
    table = RunMetric.__table__
    with session_scope(ctx.engine) as session:
        rows = session.execute(select(table.c.system, table.c.metric, table.c.value).where(
            table.c.run_id == ctx.run_id, table.c.metric.like(f"%@%/{count}")))
        sums: dict[str, Counter[str]] = defaultdict(Counter)
        for system, metric, value in rows:
            name, _, where = metric.partition("@")
            if name in PARTITIONED and where.endswith(f"/{count}"):
                sums[system][name] += value
        for system, counts in sums.items():
            if "mapped" in counts:
                _set_metrics(session, ctx, system, counts, _extracted(session, ctx.run_id, system))
            if "map_ms" in counts:  # the partitions' work, not the wall clock they took side by side
                set_metric(session, ctx.run_id, system, "map_ms", counts["map_ms"])


def map_in(session: Session, ctx: RunContext, system: str, part: Partition = WHOLE) -> Counter[str]:
    """Map ``system``'s unmapped staged records (those of ``part``) in ``session``'s
    transaction, a batch at a time in record id order (a query per batch, so neither store
    holds more than a batch)."""
    spec = ctx.config.spec(system)
    counts: Counter[str] = Counter()
    after: str | None = None
    whole = part.count == 1
    scan = BATCH if whole else min(BATCH * part.count, max(BATCH, SCAN_LIMIT))
    while scanned := session.execute(_unmapped(system, after, scan, with_payload=whole)).all():
        after = scanned[-1].record_id
        batch = ([_Staged(*row) for row in scanned] if whole else
                 _with_payloads(session, system, [r for r in scanned if part.holds(r.record_id)]))
        if not batch:
            continue
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


def _with_payloads(session: Session, system: str, rows: Sequence[Row[Any]]) -> list[_Staged]:
    """The partition's rows of a scan, with their payloads (read for these ids only)."""
    payloads: dict[str, Any] = {}
    for chunk in in_chunks([r.record_id for r in rows]):
        payloads.update(session.execute(select(SourceRecord.record_id, SourceRecord.payload).where(
            SourceRecord.system == system, SourceRecord.record_id.in_(chunk))).tuples().all())
    return [_Staged(r.record_id, payloads[r.record_id], r.content_hash, r.mapped_before) for r in rows]


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


def _map_batch(spec: MappingSpec, batch: Sequence[_Staged],
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


def _unmapped(system: str, after: str | None, limit: int = BATCH,  # type: ignore[no-untyped-def]
              with_payload: bool = True):
    """The next ``limit`` records of ``system`` with no canonical row, or one of older content;
    without their payloads for a partition, which reads only its own."""
    joined = and_(CanonicalRecord.system == SourceRecord.system,
                  CanonicalRecord.record_id == SourceRecord.record_id)
    payload = [SourceRecord.payload] if with_payload else []
    query = (select(SourceRecord.record_id, *payload, SourceRecord.content_hash,
                    CanonicalRecord.record_id.is_not(None).label("mapped_before"))
             .outerjoin(CanonicalRecord, joined)
             .where(SourceRecord.system == system)
             .where(or_(CanonicalRecord.record_id.is_(None),
                        CanonicalRecord.source_hash != SourceRecord.content_hash)))
    if after is not None:
        query = query.where(SourceRecord.record_id > after)
    return query.order_by(SourceRecord.record_id).limit(limit)


def _metric(session: Session, run_id: str, system: str, metric: str) -> int:
    row = session.get(RunMetric, (run_id, system, metric))
    return row.value if row else 0
