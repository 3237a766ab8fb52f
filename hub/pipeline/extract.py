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

Monotonic: each record is staged with its source version; an older one is counted ``stale``
and not staged, and keys a source gives twice are quarantined (``hub.pipeline.stage``,
``hub.pipeline.keys``). A dry run reads as a real run would but keeps its pages aside
(``hub.pipeline.preview``): no cursor, no ledger, no acknowledgement, nothing staged.

Full comparison: a source with ``full_scan`` (the SQL view) and ``full_scan_every_days`` set
is read whole, not from its cursor, in a nightly run when the last full read is that many days
old (0: every nightly), or when ``extract(full_scan=True)`` asks. Every row is compared with
the staged one by content hash, which finds rows the watermark cannot (restored, or
corrected, with an old timestamp); its keys are the deletion scan. The cursor is saved at the
end, never behind where it was. The metric ``full_scan`` = 1 records that the run did one.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.base import IncrementalSource, Page
from connectors.files import UnreadableFile
from connectors.cursor import Cursor
from core.clock import utcnow
from core.faults import fault_point
from hub.pipeline import preview
from hub.pipeline.context import RunContext, build_connector, set_metric
from hub.pipeline.staging import Staging
from hub.pipeline.timings import advanced
from hub.store.db import session_scope
from hub.store.models import Cursor as StoredCursor
from hub.store.models import FileLedger, Run, RunMetric

log = logging.getLogger("custhub.extract")

FULL_SCAN = "full_scan"
_METRICS = ("extracted", "new", "changed", "stale", "duplicate_key", "rejected",
            "deleted_at_source", "key_drift")


@dataclass(frozen=True)
class _Plan:
    """How this run reads one system."""

    cursor: dict | None  # what read_pages is given
    save_cursor: bool
    detect_deletions: bool
    dry_run: bool
    full_scan: bool
    cursor_field: str | None


def extract(ctx: RunContext, system: str, *, detect_deletions: bool = True,
            full_scan: bool | None = None) -> dict[str, int]:
    """Read ``system`` into the store; ``full_scan`` None: as its schedule says."""
    connector = build_connector(ctx.config, system)
    counts: Counter[str] = Counter()
    plan = _plan(ctx, system, connector, detect_deletions, full_scan, counts)
    staging = Staging(system, ctx.run_id, plan.cursor_field, ctx.config.guards.max_delete_share)
    file_keys: set[str] = set()  # the keys of the file being read, for complete exports
    seen: set[str] = set()  # every key read, when a full scan is the deletion scan
    last_cursor: dict | None = None
    read = 0  # records read so far, for a person watching the run
    pages = connector.full_scan() if plan.full_scan else connector.read_pages(plan.cursor)
    for page in pages:
        with session_scope(ctx.engine) as session:
            if _already_applied(session, system, page):
                counts["files_already_applied"] += page.ack_token is not None
            else:
                counts.update(_take(session, ctx, plan, staging, page))
                file_keys.update(_keys(page))
                if plan.full_scan:
                    seen.update(_keys(page))
                if plan.detect_deletions and _is_complete_export(connector, page):
                    counts.update(_deletions(session, ctx, plan, staging, file_keys,
                                             from_file=True))
                if not plan.dry_run:
                    _remember(session, system, page, ctx.run_id,
                              save_cursor=plan.save_cursor and not plan.full_scan)
        fault_point(f"extract.after_page:{system}")  # stored, not yet acknowledged at the source
        if not plan.dry_run:
            connector.acknowledge(page)
        if page.ack_token is not None:
            file_keys = set()
        last_cursor = page.cursor or last_cursor
        read += len(page.records) + len(page.rejects)
        advanced(read)
    _after_reading(ctx, system, connector, plan, staging, seen, last_cursor, counts)
    _metrics(ctx, system, counts, plan)
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


def _take(session: Session, ctx: RunContext, plan: _Plan, staging: Staging,
          page: Page) -> Counter[str]:
    """Stage the page; a dry run keeps it aside instead."""
    if plan.dry_run:
        preview.keep_page(session, ctx.run_id, staging.system, page, plan.cursor_field)
        return Counter({"extracted": len(page.records) + len(page.rejects)})
    return staging.page(session, page)


def _deletions(session: Session, ctx: RunContext, plan: _Plan, staging: Staging,
               present: Any, *, from_file: bool = False) -> Counter[str]:
    if plan.dry_run:
        preview.keep_present(session, ctx.run_id, staging.system, present, from_file)
        return Counter()
    return staging.deletions(session, present, from_file=from_file)


def _after_reading(ctx: RunContext, system: str, connector: Any, plan: _Plan, staging: Staging,
                   seen: set[str], last_cursor: dict | None, counts: Counter[str]) -> None:
    """The deletion scan (a full scan's keys, or the connector's key scan), and the cursor a
    full scan reached."""
    scans = plan.detect_deletions and (plan.full_scan or hasattr(connector, "scan_keys"))
    if not scans and not (plan.full_scan and not plan.dry_run):
        return
    with session_scope(ctx.engine) as session:
        if scans:
            present = seen if plan.full_scan else connector.scan_keys()
            counts.update(_deletions(session, ctx, plan, staging, present))
        if plan.full_scan and not plan.dry_run and plan.save_cursor:
            _save_cursor(session, system, _later(plan.cursor, last_cursor), ctx.run_id)


def _keys(page: Page) -> set[str]:
    return {r.record_id for r in page.records} | {r.record_id for r in page.rejects
                                                  if r.record_id}


def _is_complete_export(connector: Any, page: Page) -> bool:
    """Only the last page of a file, and only if the connector vouches for its keys."""
    check = getattr(connector, "complete_export", None)
    return bool(page.ack_token and page.content_hash and check is not None and check(page))


def _metrics(ctx: RunContext, system: str, counts: Counter[str], plan: _Plan) -> None:
    with session_scope(ctx.engine) as session:
        for metric in _METRICS:
            set_metric(session, ctx.run_id, system, metric, counts[metric])
        if counts["window_not_applied"]:
            set_metric(session, ctx.run_id, system, "window_not_applied", 1)
        set_metric(session, ctx.run_id, system, FULL_SCAN, int(plan.full_scan))
        if counts["deletions_held"]:
            set_metric(session, ctx.run_id, system, "deletions_held", counts["deletions_held"])


# -- the plan --------------------------------------------------------------------------------

def _plan(ctx: RunContext, system: str, connector: Any, detect_deletions: bool,
          full_scan: bool | None, counts: Counter[str]) -> _Plan:
    with session_scope(ctx.engine) as session:
        run = session.get(Run, ctx.run_id)
        preview.sweep(session, ctx.run_id, system)  # whether or not this run is a dry one
        stored = session.get(StoredCursor, system)
        cursor, save_cursor = (stored.value if stored else None), True
        window = _backfill_window(run)
        field = getattr(connector, "cursor_field", None) if isinstance(
            connector, IncrementalSource) else None
        if window is not None:
            detect_deletions = False  # a backfill re-reads a window: no full key scan
            if field is not None:
                cursor, save_cursor = Cursor.window(field, *window).to_json(), False
            else:
                counts["window_not_applied"] = 1
                log.warning("run %s: %s cannot read from a point in time; the backfill window "
                            "was not applied to it, it reads from its stored cursor",
                            ctx.run_id, system)
        scan = window is None and _full_scan(session, system, connector, detect_deletions,
                                             full_scan)
        return _Plan(cursor, save_cursor, detect_deletions, bool(run and run.dry_run), scan,
                     field)


def _full_scan(session: Session, system: str, connector: Any, nightly: bool,
               asked: bool | None) -> bool:
    """Asked for, or due: a nightly run (one that scans for deletions) of a source whose last
    full scan (by a real run) is ``full_scan_every_days`` old or more."""
    if not callable(getattr(connector, "full_scan", None)):
        return False
    if asked is not None:
        return asked
    every = getattr(connector, "full_scan_every_days", None)
    if every is None or not nightly:
        return False
    last = session.scalar(select(func.max(Run.started_at)).join(
        RunMetric, RunMetric.run_id == Run.id).where(
        RunMetric.system == system, RunMetric.metric == FULL_SCAN, RunMetric.value == 1,
        Run.dry_run.is_(False)))
    return last is None or _naive(utcnow()) - _naive(last) >= timedelta(days=every)


def _naive(when: datetime) -> datetime:
    """UTC without a zone: SQLite gives back the stored instants naive."""
    return when if when.tzinfo is None else when.astimezone(UTC).replace(tzinfo=None)


def _backfill_window(run: Run | None) -> tuple[datetime, datetime | None] | None:
    """A backfill run's window [start, end); None for every other run."""
    if run is None or run.kind != "backfill" or run.interval_start is None:
        return None
    return run.interval_start, run.interval_end


def _later(stored: dict | None, read: dict | None) -> dict | None:
    """The cursor further on: a full read starts from nothing and must not move it back."""
    if read is None or stored is None:
        return read or stored
    a, b = Cursor.from_json(stored), Cursor.from_json(read)
    if a.start is None or b.start is None:
        return read if a.start is None else stored
    try:
        return read if (b.start, b.key) > (a.start, a.key) else stored
    except TypeError:  # one naive, one aware: a cursor stored before the column changed
        return read


def _save_cursor(session: Session, system: str, value: dict | None, run_id: str) -> None:
    if value is not None:
        session.merge(StoredCursor(system=system, value=value, run_id=run_id,
                                   updated_at=utcnow()))


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
