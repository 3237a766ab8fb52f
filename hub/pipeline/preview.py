"""A dry run's reads, kept aside: the dry run stages nothing into the live store.

Why this design: a dry run's steps run as separate processes (Airflow tasks: extract, map,
reconcile, publish), so what it read must outlive one step; but nothing a real run reads may
change. A dry run's extract therefore stores each page as read (and each key set a deletion
scan gave) in ``preview_page`` under its own run id, moves no cursor, writes no file ledger
and acknowledges nothing (its files stay in export/ for the next real run). Its map and
reconcile steps replay those pages through the same staging code (``hub.pipeline.staging``)
inside one transaction, map, count or reconcile, and roll it all back: the real run that comes
next sees exactly the store it would have seen without the dry run. Real runs never read
``preview_page``; every extract deletes the pages of runs that are no longer running.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from connectors.base import Page, RawRecord, RejectedRow
from hub.pipeline.staging import Staging
from hub.store.models import PreviewPage, Run


def keep_page(session: Session, run_id: str, system: str, page: Page,
              cursor_field: str | None) -> None:
    body = {"cursor_field": cursor_field, "page": {
        "records": [asdict(r) for r in page.records],
        "rejects": [{"raw": r.raw, "reason": r.reason, "location": r.location,
                     "record_id": r.record_id} for r in page.rejects],
        "source_name": page.source_name, "content_hash": page.content_hash,
        "ack_token": page.ack_token}}
    session.add(PreviewPage(run_id=run_id, system=system, body=body))


def keep_present(session: Session, run_id: str, system: str, keys: Iterable[str],
                 from_file: bool) -> None:
    # a list, not a set: a key the scan gives twice is a doubled key
    session.add(PreviewPage(run_id=run_id, system=system,
                            body={"present": list(keys), "from_file": from_file}))


def sweep(session: Session, run_id: str, system: str) -> None:
    """Forget the pages of every other run that is over (or was abandoned), and what this run
    kept of ``system`` before: an extract run again (a retried task) starts over."""
    over = select(Run.id).where(Run.status != "running")
    session.execute(delete(PreviewPage).where(PreviewPage.run_id != run_id,
                                              PreviewPage.run_id.in_(over)))
    session.execute(delete(PreviewPage).where(PreviewPage.run_id == run_id,
                                              PreviewPage.system == system))


def replay(session: Session, run_id: str, systems: Iterable[str]) -> dict[str, Counter[str]]:
    """Stage what the dry run read into ``session`` (which the caller rolls back); the
    extract's counts per system."""
    counts: dict[str, Counter[str]] = {}
    for system in systems:
        staging: Staging | None = None
        counts[system] = Counter()
        for row in session.scalars(select(PreviewPage).where(
                PreviewPage.run_id == run_id, PreviewPage.system == system)
                .order_by(PreviewPage.id)):
            body = row.body
            if "page" in body:
                staging = staging or Staging(system, run_id, body.get("cursor_field"))
                counts[system].update(staging.page(session, _page(body["page"])))
            else:
                staging = staging or Staging(system, run_id, None)
                counts[system].update(staging.deletions(session, body["present"],
                                                         from_file=body["from_file"]))
    return counts


def _page(body: dict[str, Any]) -> Page:
    return Page(records=[RawRecord(**r) for r in body["records"]],
                rejects=[RejectedRow(**r) for r in body["rejects"]],
                source_name=body["source_name"], content_hash=body["content_hash"],
                ack_token=body["ack_token"])
