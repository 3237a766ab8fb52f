"""Guards that stop a run before bad data spreads."""

from __future__ import annotations

from dataclasses import dataclass

from hub.config import GuardsConfig
from hub.pipeline.context import RunContext, metrics
from hub.store.db import session_scope


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
        extracted = figures.get((system, "extracted"), 0)
        bad = figures.get((system, "quarantined"), 0)
        if extracted and bad / extracted > limit:
            over[system] = (f"{bad} of {extracted} records quarantined ({bad / extracted:.0%}), "
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
