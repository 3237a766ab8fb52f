"""Extract: read a system page by page; each page and its cursor are stored in one transaction."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from connectors.base import Page
from hub.pipeline.context import RunContext, build_connector, set_metric, utcnow
from hub.pipeline.stage import stage_page
from hub.store.db import session_scope
from hub.store.models import Cursor, FileLedger


def extract(ctx: RunContext, system: str) -> dict[str, int]:
    connector = build_connector(ctx.config, system)
    counts: Counter[str] = Counter()
    for page in connector.read_pages(_cursor(ctx, system)):
        with session_scope(ctx.engine) as session:
            if page.content_hash and session.get(FileLedger, (system, page.content_hash)):
                counts["files_already_applied"] += 1
            else:
                counts.update(stage_page(session, system, page, ctx.run_id))
                counts["extracted"] += len(page.records) + len(page.rejects)
                _remember(session, system, page, ctx.run_id)
        connector.acknowledge(page)
    with session_scope(ctx.engine) as session:
        for metric in ("extracted", "new", "changed", "rejected"):
            set_metric(session, ctx.run_id, system, metric, counts[metric])
    return dict(counts)


def _cursor(ctx: RunContext, system: str) -> dict | None:
    with session_scope(ctx.engine) as session:
        row = session.get(Cursor, system)
        return row.value if row else None


def _remember(session, system: str, page: Page, run_id: str) -> None:  # type: ignore[no-untyped-def]
    if page.cursor is not None:
        session.merge(Cursor(system=system, value=page.cursor, run_id=run_id, updated_at=utcnow()))
    if page.content_hash:
        session.add(FileLedger(system=system, content_hash=page.content_hash,
                               source_name=page.source_name or "", run_id=run_id,
                               processed_at=utcnow()))


def staged_records(ctx: RunContext, system: str) -> int:
    from hub.store.models import SourceRecord

    with session_scope(ctx.engine) as session:
        return len(session.scalars(select(SourceRecord.id).where(SourceRecord.system == system)).all())
