"""Guards that stop a run, or hold back what it would apply, before bad data spreads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import GuardsConfig
from core.clock import utcnow
from hub.pipeline.context import RunContext, metrics
from hub.store.db import session_scope
from hub.store.models import ReviewItem


def quarantine_overruns(ctx: RunContext) -> dict[str, str]:
    """The systems whose quarantined share of what they delivered passes the limit, each with
    why. The quarantined records are kept either way; such a system is left out of the run
    (hub.pipeline.isolation), so that no correction is computed from a mostly broken source.
    """
    with session_scope(ctx.engine) as session:
        figures = metrics(session, ctx.run_id)
    limit = ctx.config.quarantine_max_share
    over = {}
    for system in ctx.config.enabled_systems():
        bad = figures.get((system, "quarantined"), 0)
        # What this run judged: what it read, or what it mapped (records a killed run staged
        # are mapped by the next, which may itself read only a few), whichever is more.
        judged = max(figures.get((system, "extracted"), 0),
                     figures.get((system, "mapped"), 0) + bad)
        if judged and bad / judged > limit:
            over[system] = (f"{bad} of {judged} records quarantined ({bad / judged:.0%}), "
                            f"more than the configured {limit:.0%}")
    return over


@dataclass(frozen=True)
class GuardFigures:
    existing_golden: int  # golden records that existed before this run
    changed_existing: int  # of those, how many this run would change (creations do not count)
    live_records: dict[str, int]  # per system, records the source still has
    previous_records: dict[str, int]  # per system, as the last published run saw it


def check_change_guards(config: GuardsConfig, figures: GuardFigures) -> str | None:
    """Why the run must wait for approval, or None. Every tripped guard is named."""
    reasons = []
    existing = figures.existing_golden
    if existing >= config.min_golden_records and existing:
        share = figures.changed_existing / existing
        if share > config.max_golden_change_share:
            reasons.append(f"would change {figures.changed_existing} of {existing} golden records "
                           f"({share:.0%}), more than the configured {config.max_golden_change_share:.0%}")
    for system, before in sorted(figures.previous_records.items()):
        now = figures.live_records.get(system, 0)
        if before and (before - now) / before > config.max_source_shrink_share:
            reasons.append(f"{system} shrank from {before} to {now} records "
                           f"({(before - now) / before:.0%}), more than the configured "
                           f"{config.max_source_shrink_share:.0%}")
    return "; ".join(reasons) or None


# Below this many missing records the share says little (a 12-partner ERP losing 2): each
# is put to a steward one by one anyway, as ``deleted_at_source``.
_DELETIONS_JUDGED_FROM = 10
DELETIONS_HELD = "deletions_held"
_LISTED = 1000  # missing keys kept in the review item; the count is always exact


def check_deletion_share(system: str, gone: int, live: int, max_share: float) -> str | None:
    """Why the deletions one source read implies must be held, or None to apply them.

    A source that loses a large share of its records at once has more likely lost a file's
    tail, a filter or a table than its customers (a half-read export took 94 ERP partners
    for deleted). Held, not failed: the rest of the run goes on with the records as they were.
    """
    if gone <= _DELETIONS_JUDGED_FROM or not live or gone / live <= max_share:
        return None
    return (f"{system}: {gone} of {live} live records are missing from the source "
            f"({gone / live:.0%}), more than the configured {max_share:.0%}: not taken for "
            "deleted; a steward checks the source (guards.max_delete_share)")


def hold_deletions(session: Session, system: str, gone: list[str], reason: str,
                   run_id: str) -> None:
    """One open review item per system says which deletions are held and why."""
    item = _held_item(session, system)
    candidates = {"missing": gone[:_LISTED], "count": len(gone)}
    if item is None:
        session.add(ReviewItem(kind=DELETIONS_HELD, fingerprint=_held_fingerprint(system),
                               system=system, candidates=candidates, reason=reason,
                               run_id=run_id, created_at=utcnow()))
        return
    item.status, item.candidates, item.reason, item.run_id = "open", candidates, reason, run_id
    item.resolved_by = item.resolved_at = None


def release_held_deletions(session: Session, system: str) -> None:
    """A later read whose deletions pass the guard makes a held item moot: dismissed."""
    item = _held_item(session, system)
    if item is not None and item.status == "open":
        item.status, item.resolved_by, item.resolved_at = "dismissed", "custhub", utcnow()
        item.reason += "; a later read of the source no longer implied these deletions"


def _held_item(session: Session, system: str) -> ReviewItem | None:
    return session.scalar(select(ReviewItem).where(
        ReviewItem.fingerprint == _held_fingerprint(system)))


def _held_fingerprint(system: str) -> str:
    return hashlib.sha256(f"{DELETIONS_HELD}\0{system}".encode()).hexdigest()
