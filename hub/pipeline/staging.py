"""What one extract of one system does to the store, page by page: the same for a real run
(each page in its own transaction, with its cursor) and for a dry run's replay
(``hub.pipeline.preview``: every page in one transaction that is rolled back)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import Page
from hub.pipeline.keys import KeyTracker, report_key_drift
from hub.pipeline.guards import check_deletion_share, hold_deletions, release_held_deletions
from hub.pipeline.stage import DELETED, mark_deleted, missing_at_source, stage_page
from hub.store.models import ReviewItem

log = logging.getLogger("custhub.extract")


class Staging:
    """Stages pages and marks deletions, keeping what the extract saw across its pages."""

    def __init__(self, system: str, run_id: str, cursor_field: str | None,
                 max_delete_share: float = 1.0) -> None:
        self.system, self.run_id, self.cursor_field = system, run_id, cursor_field
        self.max_delete_share = max_delete_share  # past it, deletions are held (guards)
        self.keys = KeyTracker(system)
        self.stale = 0  # stale rows since the last deletion check

    def page(self, session: Session, page: Page) -> Counter[str]:
        counts = stage_page(session, self.system, page, self.run_id,
                            cursor_field=self.cursor_field, keys=self.keys)
        counts["extracted"] += len(page.records) + len(page.rejects)
        self.stale += counts["stale"]
        return counts

    def deletions(self, session: Session, present: Iterable[str], *,
                  from_file: bool = False) -> Counter[str]:
        """Records missing from ``present`` (every key the source has) are deletion candidates;
        one that went while a new key came with its content is reported as key drift. A file
        with stale rows is older than what the hub has: it says nothing about what exists now.
        A key the scan lists twice is a doubled key: this extract's row of it is taken back."""
        if from_file and self.stale:
            self.stale = 0
            return Counter({"deletions_not_checked": 1})
        counts: Counter[str] = Counter()
        gone, live = missing_at_source(session, self.system, self._doubles(session, present, counts))
        held = check_deletion_share(self.system, len(gone), live, self.max_delete_share)
        if held is not None:  # more gone than is credible: a steward looks first, the run goes on
            log.warning("run %s: %s", self.run_id, held)
            hold_deletions(session, self.system, gone, held, self.run_id)
            counts["deletions_held"] = len(gone)
            return counts
        release_held_deletions(session, self.system)
        deleted = mark_deleted(session, self.system, gone, self.run_id)
        counts["deleted_at_source"] = deleted
        if deleted and self.keys.inserted:
            gone = session.scalars(select(ReviewItem.record_id).where(
                ReviewItem.kind == DELETED, ReviewItem.system == self.system,
                ReviewItem.run_id == self.run_id, ReviewItem.status == "open"))
            ignore = [self.cursor_field] if self.cursor_field else []
            counts["key_drift"] = report_key_drift(session, self.system, self.run_id,
                                                   self.keys.inserted, list(gone), ignore)
        return counts

    def _doubles(self, session: Session, present: Iterable[str],
                 counts: Counter[str]) -> Iterator[str]:
        seen: set[str] = set()
        for key in present:
            if key in seen:
                self.keys.doubled(session, key, self.run_id, counts)
            seen.add(key)
            yield key
