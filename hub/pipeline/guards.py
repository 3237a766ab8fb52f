"""Guards that stop a run before bad data spreads."""

from __future__ import annotations

from hub.errors import RunFailed
from hub.pipeline.context import RunContext, metrics
from hub.store.db import session_scope


def check_quarantine_share(ctx: RunContext) -> None:
    """Fail the run when a system's quarantined share of what it delivered passes the limit.

    The quarantined records are kept either way; failing only stops the run from
    publishing corrections computed from a source that is mostly broken.
    """
    with session_scope(ctx.engine) as session:
        figures = metrics(session, ctx.run_id)
    limit = ctx.config.quarantine_max_share
    for system in ctx.config.enabled_systems():
        extracted = figures.get((system, "extracted"), 0)
        bad = figures.get((system, "quarantined"), 0)
        if extracted and bad / extracted > limit:
            raise RunFailed(f"{system}: {bad} of {extracted} records quarantined "
                            f"({bad / extracted:.0%}), more than the configured {limit:.0%}")
