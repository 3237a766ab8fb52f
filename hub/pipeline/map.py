"""Map: turn each staged payload whose content changed into a canonical Customer."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import and_, delete, or_, select

from hub.pipeline.context import RunContext, set_metric
from hub.pipeline.stage import quarantine
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, SourceRecord
from mappings.engine import load_spec, map_record
from mappings.errors import MappingError


def map_system(ctx: RunContext, system: str) -> dict[str, int]:
    """Map what changed since the last mapping; a record that no longer maps leaves reconciliation."""
    spec = load_spec(ctx.config.systems[system].mapping)
    counts: Counter[str] = Counter()
    with session_scope(ctx.engine) as session:
        for source in session.scalars(_unmapped(system)):
            try:
                customer = map_record(spec, source.payload)
            except MappingError as e:
                counts["quarantined"] += quarantine(
                    session, system, ctx.run_id, source.record_id, "map", str(e),
                    json.dumps(source.payload, ensure_ascii=False, default=str))
                session.execute(delete(CanonicalRecord).where(
                    CanonicalRecord.system == system, CanonicalRecord.record_id == source.record_id))
                continue
            session.merge(CanonicalRecord(system=system, record_id=source.record_id,
                                          values=customer.present(), source_hash=source.content_hash,
                                          run_id=ctx.run_id))
            counts["mapped"] += 1
        rejected = _metric(session, ctx.run_id, system, "rejected")
        set_metric(session, ctx.run_id, system, "quarantined", counts["quarantined"] + rejected)
        set_metric(session, ctx.run_id, system, "mapped", counts["mapped"])
    return dict(counts)


def _unmapped(system: str):  # type: ignore[no-untyped-def]
    joined = and_(CanonicalRecord.system == SourceRecord.system,
                  CanonicalRecord.record_id == SourceRecord.record_id)
    return (select(SourceRecord).outerjoin(CanonicalRecord, joined)
            .where(SourceRecord.system == system)
            .where(or_(CanonicalRecord.record_id.is_(None),
                       CanonicalRecord.source_hash != SourceRecord.content_hash))
            .order_by(SourceRecord.record_id))


def _metric(session, run_id: str, system: str, metric: str) -> int:  # type: ignore[no-untyped-def]
    from hub.store.models import RunMetric

    row = session.get(RunMetric, (run_id, system, metric))
    return row.value if row else 0
