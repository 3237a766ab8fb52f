"""Reconcile: match records into hub ids, build golden records, diff systems, fill the outbox.

Everything is computed in one transaction. It is committed only when the run may publish;
a dry run, or a run a guard stops, rolls it back, so that neither the xref, the golden
history nor the outbox changes. A dry run first stages and maps what it read (kept aside by
its extract, ``hub.pipeline.preview``) in that same transaction, so it decides on the data it
read while the store keeps none of it. What the run found (the differences, i.e. the corrections
it would send, and its figures) is stored either way, for the report and the approver.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session, aliased

from hub.pipeline.context import RunContext, set_metric
from hub.pipeline.golden import GoldenOutcome, build
from hub.pipeline.guards import GuardFigures, check_change_guards
from hub.pipeline.linking import Linking, link, load_records
from hub.pipeline.map import map_in
from hub.pipeline.preview import replay
from hub.pipeline.runs import hold_run
from hub.pipeline.scope import Scope, keep_discrepancies, plan, save_keys, save_state
from hub.store.bulk import bulk_insert
from hub.store.db import session_scope
from hub.store.models import Discrepancy, GoldenRecord, Run, RunMetric, SourceRecord, Xref
from mappings.customer import CUSTOMER_FIELDS
from reconciliation.members import records_frame
from reconciliation.records import RecordSet

APPROVED = "approved"


@dataclass
class ReconcileResult:
    counts: Counter[str] = field(default_factory=Counter)
    held: str | None = None  # why a guard stopped the run before publishing
    applied: bool = True  # False: dry run or held; nothing was written back to the store
    changes: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # hub_id, field, old, new


def reconcile(ctx: RunContext) -> dict[str, int]:
    """The step as the DAGs call it: figures out; a held run is marked awaiting_approval, so that
    publish sends nothing and finishing the run leaves it waiting for ``custhub approve``."""
    result = reconcile_run(ctx)
    if result.held:
        hold_run(ctx.engine, ctx.run_id, result.held)
    return {**result.counts, "held": int(bool(result.held)), "applied": int(result.applied)}


def reconcile_run(ctx: RunContext, full: bool = False, retrain: bool = True) -> ReconcileResult:
    """``full``: look at the whole estate whatever changed (hub.pipeline.scope decides otherwise);
    ``retrain``: a full run trains the match model again (False: it scores with the stored one,
    as an incremental run does)."""
    with _no_cycle_collection():
        return _reconcile_run(ctx, full, retrain)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while reconcile runs: it holds millions of small objects
    (records, values, lineage) alive throughout, and each full collection walks all of them, so
    the collections cost more than linearly in the estate (a third of a 100k first load's CPU).
    Reference counting frees everything else as before; the collector resumes afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _reconcile_run(ctx: RunContext, full: bool, retrain: bool) -> ReconcileResult:
    with session_scope(ctx.engine) as session:
        run = session.get(Run, ctx.run_id)
        dry_run, approved = run.dry_run, run.status == APPROVED
    with Session(ctx.engine, expire_on_commit=False) as session, session.begin() as tx:
        if dry_run:  # what the dry run read, staged and mapped only inside this transaction
            _preview(session, ctx)
        scope = plan(session, ctx, full)
        records = load_records(session, scope.keys)
        frame = records_frame(records.members, CUSTOMER_FIELDS)  # built once: matching, survivorship, diff
        save_keys(session, ctx, scope, records, frame)  # before linking rewrites the xref rows it compares
        linking = link(session, ctx, records, frame, None if scope.full and retrain else scope.model)
        outcome = build(session, ctx, records, frame, linking.links.hub_ids, None if scope.full else scope.hubs)
        figures = _figures(session, ctx, records, outcome)
        matched = _matched(session, ctx)
        held = None if approved or dry_run else check_change_guards(ctx.config.guards, figures)
        applied = not dry_run and held is None
        if applied:
            save_state(session, scope, ctx.run_id, linking.model, outcome.held)
            _store_findings(session, ctx, scope, records, linking, outcome, figures, matched)
        else:
            tx.rollback()
    if not applied:
        with session_scope(ctx.engine) as session:
            _store_findings(session, ctx, scope, records, linking, outcome, figures, matched)
    counts = Counter({**outcome.counts, "match_candidates": linking.candidates})
    return ReconcileResult(counts, held, applied, outcome.changes)


def _preview(session: Session, ctx: RunContext) -> None:
    systems = ctx.config.enabled_systems()
    replay(session, ctx.run_id, systems)
    for system in systems:
        map_in(session, ctx, system)


def _figures(session: Session, ctx: RunContext, records: RecordSet, outcome: GoldenOutcome) -> GuardFigures:
    # Counted inside the run's transaction: the records it created are among the current ones.
    existing = session.scalar(select(func.count()).select_from(GoldenRecord).where(
        GoldenRecord.is_current.is_(True))) or 0
    live = Counter(dict(session.execute(select(SourceRecord.system, func.count()).where(
        SourceRecord.deleted_at.is_(None)).group_by(SourceRecord.system)).tuples().all()))
    return GuardFigures(existing_golden=existing - outcome.counts["golden_created"],
                        changed_existing=outcome.counts["golden_changed_existing"],
                        live_records={s: live[s] for s in ctx.config.enabled_systems()},
                        previous_records=_previous_counts(session, ctx))


def _previous_counts(session: Session, ctx: RunContext) -> dict[str, int]:
    """Each system's live record count as the last published run saw it."""
    last = session.scalar(select(Run.id).join(RunMetric, RunMetric.run_id == Run.id)
                          .where(Run.dry_run.is_(False), Run.status.in_(["succeeded", APPROVED]),
                                 RunMetric.metric == "records", Run.id != ctx.run_id)
                          .order_by(Run.started_at.desc()).limit(1))
    if last is None:
        return {}
    rows = session.scalars(select(RunMetric).where(RunMetric.run_id == last, RunMetric.metric == "records"))
    return {m.system: m.value for m in rows}


def _matched(session: Session, ctx: RunContext) -> Counter[str]:
    """Per system, the records this run staged (new or changed) that sit in a hub id with more
    than one record of a configured system: counted per run, like extracted and new. Read from
    this run's staged records (an index on their run), each hub id counted by its index: the
    cost follows what the run read, not the size of the xref."""
    systems = list(ctx.config.systems)
    x, others, s = Xref, aliased(Xref), SourceRecord
    shared = (select(func.count()).select_from(others)
              .where(others.hub_id == x.hub_id, others.system.in_(systems)).scalar_subquery())
    query = (select(x.system, func.count()).select_from(s)
             .join(x, and_(x.system == s.system, x.record_id == s.record_id))
             .where(s.run_id == ctx.run_id, x.system.in_(systems), shared > 1).group_by(x.system))
    return Counter(dict(session.execute(query).tuples().all()))


def _store_findings(session: Session, ctx: RunContext, scope: Scope, records: RecordSet, linking: Linking,
                    outcome: GoldenOutcome, figures: GuardFigures, matched: Counter[str]) -> None:
    session.execute(delete(Discrepancy).where(Discrepancy.run_id == ctx.run_id))
    discrepancies = len(outcome.differences)
    if not scope.full:
        discrepancies += keep_discrepancies(session, scope.previous_run, ctx.run_id,
                                            {*scope.hubs, *linking.links.hub_ids.values()})
    bulk_insert(session, Discrepancy.__table__, (  # streamed: no list of row dicts
        {"run_id": ctx.run_id, "hub_id": hub_id, "system": d.system, "record_id": d.record_id,
         "field": d.field, "system_value": _text(d.system_value), "golden_value": _text(d.golden_value),
         "source": d.source, "rule": d.rule, "corrected": d.correct}
        for hub_id, d in outcome.differences))
    new = Counter(system for (system, _), hub_id in linking.links.hub_ids.items()
                  if hub_id in linking.links.new_hub_ids)
    for system in ctx.config.systems:
        set_metric(session, ctx.run_id, system, "matched", matched[system])
        set_metric(session, ctx.run_id, system, "new", new[system])
        set_metric(session, ctx.run_id, system, "records", figures.live_records.get(system, 0))
        set_metric(session, ctx.run_id, system, "would_send", outcome.would_send[system])
    for metric in ("golden_changed", "golden_created", "golden_changed_existing", "corrections", "retired"):
        set_metric(session, ctx.run_id, "hub", metric, outcome.counts[metric])
    set_metric(session, ctx.run_id, "hub", "discrepancies", discrepancies)
    set_metric(session, ctx.run_id, "hub", "match_candidates", linking.candidates)
    set_metric(session, ctx.run_id, "hub", "reconsidered", len(records.members))  # records matched and survived again
    set_metric(session, ctx.run_id, "hub", "full_reconcile", int(scope.full))
    fell_back = bool(linking.model and linking.model.warnings)  # EM ran away: untrained parameters used
    set_metric(session, ctx.run_id, "hub", "match_training_fallback", int(fell_back))


def _text(value: object) -> str | None:
    return None if value is None else str(value)
