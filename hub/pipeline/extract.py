"""Extract: read a system page by page; each page and its cursor are stored in one transaction.

Files: every page of a file carries the file's content hash, the last one its ack token.
The file ledger row is written with the last page, so a file is "applied" only once all of
it is stored (a refused file never is); a re-delivery of the file last applied (same name
and hash: sent twice, or read again after a crash between storing and archiving) is not
staged again, only acknowledged. Any other file is applied, even one whose content was
applied before: after a bad export, the next good one restores what the bad one changed.

Deletions (``detect_deletions``, the nightly run): a connector with ``scan_keys()`` (SQL)
has its every key compared with what the hub staged, after all pages are stored; a file
connector whose ``complete_export(page)`` says the file lists every record has that file's
keys compared, in the transaction of its last page. See ``stage.mark_deleted``. More missing
records than ``guards.max_delete_share`` of the live ones are held, not applied: one
``deletions_held`` review item per system lists them, the metric ``deletions_held`` counts
them, and the run goes on (``guards.check_deletion_share``).

Backfill runs (kind ``backfill`` with an interval) read their window instead of the stored
cursor: a connector that reads by a cursor (``connectors.base.IncrementalSource``) is given
the window as a ``connectors.cursor.Cursor``, [start, end), and reads the records changed in
it; the stored cursor is neither read nor saved, so the scheduled runs carry on where they
left off. A run without an end reads from the start onwards. A connector without a cursor (SFTP files: read
exports move to ``archive/``) reads as usual from its stored cursor; the run logs a warning and
records the metric ``window_not_applied`` = 1 for that system (also in the counts returned).
Backfill runs never run the full key scan for deletions.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import IncrementalSource, Page
from connectors.files import UnreadableFile
from connectors.cursor import Cursor
from core.clock import utcnow
from hub.pipeline.context import RunContext, build_connector, set_metric
from hub.pipeline.guards import check_deletion_share, hold_deletions, release_held_deletions
from hub.pipeline.stage import mark_deleted, missing_at_source, stage_page
from hub.store.db import session_scope
from hub.store.models import Cursor as StoredCursor
from hub.store.models import FileLedger, Run

log = logging.getLogger("custhub.extract")


def extract(ctx: RunContext, system: str, *, detect_deletions: bool = True) -> dict[str, int]:
    connector = build_connector(ctx.config, system)
    counts: Counter[str] = Counter()
    window = _backfill_window(ctx)
    cursor, save_cursor = _cursor(ctx, system), True
    if window is not None:
        detect_deletions = False  # a backfill re-reads a window: no full key scan
        if isinstance(connector, IncrementalSource):
            cursor = Cursor.window(connector.cursor_field, *window).to_json()
            save_cursor = False
        else:
            counts["window_not_applied"] = 1
            log.warning("run %s: %s cannot read from a point in time; the backfill window "
                        "was not applied to it, it reads from its stored cursor", ctx.run_id,
                        system)
    file_keys: set[str] = set()  # the keys of the file being read, for complete exports
    for page in connector.read_pages(cursor):
        with session_scope(ctx.engine) as session:
            if _already_applied(session, system, page):
                counts["files_already_applied"] += page.ack_token is not None
            else:
                counts.update(stage_page(session, system, page, ctx.run_id))
                counts["extracted"] += len(page.records) + len(page.rejects)
                file_keys.update(_keys(page))
                if detect_deletions and _is_complete_export(connector, page):
                    counts.update(_deletions(session, ctx, system, file_keys))
                _remember(session, system, page, ctx.run_id, save_cursor=save_cursor)
        connector.acknowledge(page)
        if page.ack_token is not None:
            file_keys = set()
    if detect_deletions and hasattr(connector, "scan_keys"):
        with session_scope(ctx.engine) as session:
            counts.update(_deletions(session, ctx, system, connector.scan_keys()))
    _metrics(ctx, system, counts)
    return dict(counts)


def _already_applied(session: Session, system: str, page: Page) -> bool:
    """A re-delivery of the file last applied (same name and content): nothing to stage.
    Any other file is applied, whatever the ledger saw before: a good export equal to one
    applied before a bad one must put the hub back where it was."""
    if not page.content_hash:
        return False
    last = session.scalars(select(FileLedger).where(FileLedger.system == system)
                           .order_by(FileLedger.processed_at.desc()).limit(1)).first()
    return (last is not None and last.content_hash == page.content_hash
            and last.source_name == (page.source_name or ""))


def _deletions(session: Session, ctx: RunContext, system: str,
               present: Iterable[str]) -> Counter[str]:
    """Take the records missing from ``present`` for deleted, unless too many are missing:
    then they are held for a steward (``guards.check_deletion_share``) and the run goes on."""
    gone, live = missing_at_source(session, system, present)
    held = check_deletion_share(system, len(gone), live, ctx.config.guards.max_delete_share)
    if held is not None:
        log.warning("run %s: %s", ctx.run_id, held)
        hold_deletions(session, system, gone, held, ctx.run_id)
        return Counter(deletions_held=len(gone))
    release_held_deletions(session, system)
    return Counter(deleted_at_source=mark_deleted(session, system, gone, ctx.run_id))


def _keys(page: Page) -> set[str]:
    return {r.record_id for r in page.records} | {r.record_id for r in page.rejects
                                                  if r.record_id}


def _is_complete_export(connector: Any, page: Page) -> bool:
    """Only the last page of a file, and only if the connector vouches for its keys."""
    check = getattr(connector, "complete_export", None)
    return bool(page.ack_token and page.content_hash and check is not None and check(page))


def _metrics(ctx: RunContext, system: str, counts: Counter[str]) -> None:
    with session_scope(ctx.engine) as session:
        for metric in ("extracted", "new", "changed", "rejected", "deleted_at_source"):
            set_metric(session, ctx.run_id, system, metric, counts[metric])
        if counts["window_not_applied"]:
            set_metric(session, ctx.run_id, system, "window_not_applied", 1)
        if counts["deletions_held"]:
            set_metric(session, ctx.run_id, system, "deletions_held", counts["deletions_held"])


def _backfill_window(ctx: RunContext) -> tuple[datetime, datetime | None] | None:
    """A backfill run's window [start, end); None for every other run."""
    with session_scope(ctx.engine) as session:
        run = session.get(Run, ctx.run_id)
        if run is None or run.kind != "backfill" or run.interval_start is None:
            return None
        return run.interval_start, run.interval_end


def _cursor(ctx: RunContext, system: str) -> dict | None:
    """The stored cursor's JSON as it is; the connector reads it (old shapes too)."""
    with session_scope(ctx.engine) as session:
        row = session.get(StoredCursor, system)
        return row.value if row else None


def _remember(session: Session, system: str, page: Page, run_id: str, *,
              save_cursor: bool = True) -> None:
    if save_cursor and page.cursor is not None:
        session.merge(StoredCursor(system=system, value=page.cursor, run_id=run_id,
                                   updated_at=utcnow()))
    refused = any(isinstance(r, UnreadableFile) for r in page.rejects)
    if page.content_hash and page.ack_token is not None and not refused:  # all of it is stored
        session.merge(FileLedger(system=system, content_hash=page.content_hash,
                                 source_name=page.source_name or "", run_id=run_id,
                                 processed_at=utcnow()))

