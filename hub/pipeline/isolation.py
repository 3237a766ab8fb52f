"""Failure isolation: one system's bad file or broken connection is that system's problem.

A system whose extract or map fails with a CusthubError of its own (a refused file, an SFTP
error; not a configuration or security error, see ``isolable``), or
whose quarantined share passes ``quarantine_max_share``, is handled as its ``on_failure``
says (hub.yaml, per system):

- ``skip_system`` (default): it is left out of this run. The run metric ``skipped`` = 1 and a
  note in the run's message ("erp skipped: …") show it in the summary, the report and an alert;
  it receives no corrections this run (reconcile sees it as receiving nothing) and publish
  sends it nothing. Its staged records stay as they were: nothing is taken for deleted.
- ``hold_run``: the run is held (awaiting_approval) before reconcile, as the guards hold it;
  the metric ``skipped`` = 2. An approved run then goes on without that system's corrections.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from core.errors import CusthubError, Kind, RunFailed
from hub.pipeline.context import RunContext, set_metric
from hub.pipeline.runs import SKIPPED, add_note
from hub.store.db import session_scope
from hub.store.models import RunMetric

log = logging.getLogger("custhub.isolation")
SKIP, HOLD = 1, 2  # values of the "skipped" metric
_ISOLABLE = frozenset({Kind.DATA, Kind.TRANSIENT, Kind.REFUSED, Kind.CONFLICT})


def isolate(ctx: RunContext, system: str, reason: str) -> None:
    """Leave ``system`` out of this run (or mark it to hold the run), saying why everywhere."""
    hold = ctx.config.systems[system].on_failure == "hold_run"
    with session_scope(ctx.engine) as session:
        set_metric(session, ctx.run_id, system, SKIPPED, HOLD if hold else SKIP)
    note = f"{system} {'failed' if hold else 'skipped'}: {reason}"
    if not hold:
        add_note(ctx.engine, ctx.run_id, note)
    log.warning("run %s: %s", ctx.run_id, note)
    _alert(ctx, system, note)


def isolable(error: CusthubError) -> bool:
    """A system's own failure (bad data, a refused file, an unreachable or refusing server)
    is isolated; the hub's configuration or an unsafe peer (an unknown host key) fails the
    run, for a person to fix, and a guard's RunFailed stops it as before."""
    return error.kind in _ISOLABLE and not isinstance(error, RunFailed)


def isolate_error(ctx: RunContext, system: str, error: CusthubError) -> None:
    isolate(ctx, system, error.one_line())


def excluded(ctx: RunContext) -> dict[str, int]:
    """The systems left out of this run: name -> SKIP or HOLD."""
    with session_scope(ctx.engine) as session:
        rows = session.execute(select(RunMetric.system, RunMetric.value).where(
            RunMetric.run_id == ctx.run_id, RunMetric.metric == SKIPPED, RunMetric.value > 0))
        return dict(rows.tuples().all())


def hold_reason(ctx: RunContext) -> str | None:
    """Why the run must wait for approval because a ``hold_run`` system failed, or None."""
    holding = sorted(s for s, how in excluded(ctx).items() if how == HOLD)
    if not holding:
        return None
    return (f"{', '.join(holding)} failed (on_failure: hold_run); approve to go on without "
            f"{'its' if len(holding) == 1 else 'their'} corrections this run")


def for_reconcile(ctx: RunContext) -> RunContext:
    """The context reconcile runs in: a left-out system receives nothing, so it gets no
    corrections this run, while its records still take part in matching and survivorship."""
    left_out = excluded(ctx)
    if not left_out:
        return ctx
    systems = {name: block.model_copy(update={"receives": []}) if name in left_out else block
               for name, block in ctx.config.systems.items()}
    config = ctx.config.model_copy(update={"systems": systems})
    config._specs.update(ctx.config._specs)  # the specs load_config validated, not read again
    return RunContext(config, ctx.engine, ctx.run_id)


def _alert(ctx: RunContext, system: str, note: str) -> None:
    """Tell IT through the configured alert channels; an alert that cannot go is only logged."""
    from hub.alerts import Alert, send

    send(Alert(dag_id="custhub", task_id=f"{system} (left out of the run)", run_id=ctx.run_id,
               try_number=None, map_index=None, error=note), ctx.config.orchestration.alerts)
