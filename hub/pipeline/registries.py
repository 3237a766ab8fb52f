"""Registry checks: ARES facts about Czech companies, ISIR insolvency, VIES validity of VAT IDs,
each stored as evidence (RegistryCheck: what was asked, when, the answer, the consultation number).

- A key gets at most one RegistryCheck per registry and day; a *final* answer (valid, invalid,
  found, not found, clear, insolvent, malformed input, refused) is the day's cache and is not asked again.
- A *pending* answer (``unknown``: the registry could not say; ``security_error``: the response
  was refused unread) is asked again by the next run, which updates that day's row.
- No single answer stops the step: every failure of one check is that check's status, by the row
  of the connector's failure table that matched, with the failure kept as its evidence (detail).
- Each answer is stored (committed) as it arrives, those of one bulk request together: a run
  killed after N answers keeps N (or the whole bulk request's), and the next run asks only the
  rest. Each step has a deadline (``deadline_seconds``): keys not answered
  by then are left for the next run, counted as ``<registry>_left``, and the run goes on.
- Each registry is a budgeted queue (hub.pipeline.registry_queue): new and changed keys first,
  then pending ones, then the oldest answers past ``recheck_after_days``; at most
  ``budget_per_run`` keys a run, the others counted as ``<registry>_not_checked`` (with
  ``<registry>_budget``) and asked by the coming runs; requests go at ``rate_per_second``.
  ARES is asked in bulk (up to 1000 IČOs a request). VIES: member states its check-status
  reports unavailable are not asked (``vies_member_state_unavailable``), and a VAT ID VIES did
  not look at for load (*_MAX_CONCURRENT_REQ after the retries) is no answer: not stored,
  counted as ``vies_busy``, due again.
- A configuration error of a registry (its WSDL does not load, credentials or our requester VAT
  ID refused) stops that registry's step only: recorded once (``<registry>_config_error``, the
  log, the report), no per-key rows; the run goes on without that registry.
- An ARES subject becomes the canonical record ("ares", IČO); an insolvency becomes the record
  ("isir", IČO) holding ``registry_status: insolvent``, so survivorship can let it win. Either is
  cleared only by a positive answer (ARES: the subject found again; ISIR: the proceedings listed
  as ended), never by a "not found" or a failed check: those leave the record standing and the
  check ``unknown``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import date
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from connectors.errors import ConnectorError, Kind
from connectors.registries.inflight import DeadlinePassed
from connectors.registries.pacing import Pace
from connectors.registries.vies import normalise
from core.clock import utcnow
from core.faults import fault_point
from core.hashing import content_hash
from hub.config import RegistryConfig
from hub.pipeline.context import RunContext, build_connector, set_metric
from hub.pipeline.registry_queue import deadline, identifiers, in_order, last_checks, one_by_one
from hub.pipeline.timings import advanced
from hub.store.db import in_chunks, session_scope
from hub.store.models import CanonicalRecord, RegistryCheck
from mappings.engine import map_record
from mappings.errors import MappingError

log = logging.getLogger("custhub.registries")

REGISTRY_SYSTEMS = frozenset({"ares", "isir"})  # registries that hold canonical records
UNKNOWN = "unknown"
BUSY = "busy"  # the registry did not look at the key (load): no answer, not stored
# Customer fields a registry can vouch for, for the evidence of a golden value's lineage.
EVIDENCED_FIELDS = {"ares": ("legal_name", "legal_form", "company_id", "vat_id", "street", "city",
                             "postal_code", "country", "registry_status"),
                    "isir": ("registry_status",)}
# The answers that are evidence of a value: a registry that said something about the company.
# A refusal, a malformed key, a "not found" or a failed check vouches for nothing.
EVIDENCE = {"ares": frozenset({"found"}), "isir": frozenset({"insolvent", "clear"}),
            "vies": frozenset({"valid", "invalid"})}

Outcome = tuple[str, dict[str, Any], str | None]  # status, detail, consultation number
# What arrived together (one answer, or a bulk request's): stored in one transaction.
Answers = Iterator[list[tuple[str, Outcome]]]
# (session, run, key, answer, the registry's record of the key if any) -> what is recorded
Store = Callable[[Session, RunContext, str, Outcome, CanonicalRecord | None], Outcome]
Step = Callable[[RunContext, Any, list[str], float | None, Pace], Answers]


def check_registries(ctx: RunContext) -> dict[str, int]:
    steps: dict[str, Step] = {"ares": ask_ares, "isir": ask_isir, "vies": ask_vies}
    counts: Counter[str] = Counter()
    for name, step in steps.items():
        block = ctx.config.registries.get(name)
        if block is not None and block.enabled:
            _run_step(ctx, name, block, step, counts)
    with session_scope(ctx.engine) as session:
        for metric, value in counts.items():
            set_metric(session, ctx.run_id, "registries", metric, value)
    return dict(counts)


def _run_step(ctx: RunContext, name: str, block: RegistryConfig, step: Step,
              counts: Counter[str]) -> None:
    """Ask the run's share of the due keys and store each answer as it arrives; a
    configuration error of the registry ends its step here, once, and the run goes on."""
    until, today = deadline(block.deadline_seconds), utcnow().date()
    queue = _queue(ctx, name, block, today)
    todo, answered, busy = queue[:block.budget_per_run], 0, 0
    try:
        pacer = Pace(block.rate_per_second)
        connector = build_connector(ctx.config, name)
        if hasattr(connector, "load_contract"):
            connector.load_contract()
        queue = _askable(name, connector, queue, until, pacer, counts)
        todo = queue[:block.budget_per_run]
        for arrived in step(ctx, connector, todo, until, pacer):
            answers = [(key, outcome) for key, outcome in arrived if outcome[0] != BUSY]
            busy += len(arrived) - len(answers)
            for status in _store_all(ctx, name, today, answers):
                answered += 1
                counts[f"{name}_{status}"] += 1
                fault_point("registries.after_answer")
            advanced(answered + busy, len(todo))
    except DeadlinePassed:
        pass  # the deadline came while waiting for the rate: the rest is left
    except ConnectorError as exc:
        if exc.kind is not Kind.CONFIG:
            raise
        log.error("%s not checked in this run (configuration): %s", name, exc)
        counts[f"{name}_config_error"] = 1
    _count_left(counts, name, block, len(queue), len(todo) - answered - busy, busy)


def _store_all(ctx: RunContext, registry: str, today: date,
               answers: list[tuple[str, Outcome]]) -> list[str]:
    """Answers that arrived together, stored in one transaction; each one's recorded status."""
    with session_scope(ctx.engine) as session:
        rows, records = _today(session, registry, [key for key, _ in answers], today)
        statuses, new = [], []
        for key, outcome in answers:
            status = STORES[registry](session, ctx, key, outcome, records.get(key))
            values = _check_values(ctx, rows.get(key), status)
            if key in rows:
                for name, value in values.items():
                    setattr(rows[key], name, value)
            else:
                new.append({"registry_name": registry, "key": key, "checked_on": today, **values})
            statuses.append(status[0])
        if new:  # in one statement: a bulk answer brings up to 1000 at once
            session.execute(insert(RegistryCheck), new)
    return statuses


def _today(session: Session, registry: str, keys: list[str], today: date
           ) -> tuple[dict[str, RegistryCheck], dict[str, CanonicalRecord]]:
    """Today's check rows of the keys that have one (the unique key is (registry, key, day)),
    and the registry's records of the keys: one query each for what arrived together."""
    records = {} if registry not in REGISTRY_SYSTEMS else {
        r.record_id: r for r in session.scalars(select(CanonicalRecord).where(
            CanonicalRecord.system == registry, CanonicalRecord.record_id.in_(keys)))}
    rows = {row.key: row for row in session.scalars(select(RegistryCheck).where(
        RegistryCheck.registry_name == registry, RegistryCheck.checked_on == today,
        RegistryCheck.key.in_(keys)))}
    return rows, records


def _count_left(counts: Counter[str], name: str, block: RegistryConfig, due_keys: int,
                left: int, busy: int) -> None:
    if left:
        counts[f"{name}_left"] = left
    if busy:
        counts[f"{name}_busy"] = busy
    if (over := due_keys - block.budget_per_run) > 0:
        counts[f"{name}_not_checked"] = over
        counts[f"{name}_budget"] = block.budget_per_run


# --- what to ask -----------------------------------------------------------------------------


def _queue(ctx: RunContext, registry: str, block: RegistryConfig, today: date) -> list[str]:
    """Every due key of the registry, in the order they are asked."""
    field, czech_only = KEYS[registry]
    with session_scope(ctx.engine) as session:
        keys = identifiers(session, ctx.config.enabled_systems(), field, czech_only)
        checks = last_checks(session, registry)
    return in_order(keys, checks, today, block.recheck_after_days)


def due(ctx: RunContext, registry: str, keys: Iterable[str], today: date) -> list[str]:
    """Those of ``keys`` the registry's next run would ask (budget aside), in its order."""
    wanted = set(keys)
    block = ctx.config.registries[registry]
    return [k for k in _queue(ctx, registry, block, today) if k in wanted]


def _askable(registry: str, connector: Any, queue: list[str], until: float | None,
             pacer: Pace, counts: Counter[str]) -> list[str]:
    """The queue without the VAT IDs of member states VIES reports down: they stay due, and
    are counted, not asked (nor charged to the budget)."""
    if registry != "vies":
        return queue
    try:
        down = connector.unavailable_member_states(until, pacer)
    except ConnectorError as exc:  # the checks themselves will say what is down
        log.warning("VIES check-status not read (%s): every member state is asked", exc)
        return queue
    askable = [k for k in queue if normalise(k[:2], k[2:])[0] not in down]
    if skipped := len(queue) - len(askable):
        log.warning("VIES reports member states %s unavailable: %d VAT ID(s) left for the "
                    "next run", ", ".join(sorted(down)), skipped)
        counts["vies_member_state_unavailable"] = skipped
    return askable


def _guarded(registry: str, key: str, ask: Callable[[], Outcome]) -> Outcome:
    """Turn a failure of one key's check into that check's status, the failure its evidence.

    The status is the ``outcome`` of the connector's failure-table row that matched
    (connectors.classify): "invalid_input" for malformed input, "unknown" when the registry
    was unreachable, overloaded or answered something no row foresaw (never "invalid": it stays
    pending for a later run), "security_error" for an unsafe response, "refused" for a number
    VIES will not check. A configuration error (credentials, our requester VAT ID, the WSDL)
    is no answer about the key: it ends the registry's step (``_run_step``), and so does the
    deadline passing before a request could be sent."""
    try:
        return ask()
    except ConnectorError as exc:
        if exc.kind is Kind.CONFIG or isinstance(exc, DeadlinePassed):
            raise
        if exc.kind is Kind.SECURITY:
            log.warning("%s answered %s with an unsafe response: %s", registry, key, exc)
        return exc.outcome or UNKNOWN, {"reason": str(exc), "code": exc.detail}, None


def _check_values(ctx: RunContext, row: RegistryCheck | None,
                  outcome: Outcome) -> dict[str, Any]:
    """Today's row of the key holds the answer; the number of attempts that day is kept in
    the detail."""
    status, detail, identifier = outcome
    attempts = 1 + int((row.detail or {}).get("attempts", 1)) if row is not None else 1
    return dict(status=status, detail={**detail, "attempts": attempts},
                request_identifier=identifier, run_id=ctx.run_id, checked_at=utcnow())


def _standing(outcome: Outcome, reason: str) -> Outcome:
    """A "not found" that contradicts what the registry said before: the record stands, the
    check is unknown (asked again), and the answer is kept as its evidence."""
    status, detail, identifier = outcome
    return UNKNOWN, {**detail, "answered": status, "reason": reason}, identifier


# --- ARES ------------------------------------------------------------------------------------


def ask_ares(ctx: RunContext, connector: Any, keys: list[str], until: float | None,
             pacer: Pace) -> Answers:
    """In bulk: ``bulk_size`` IČOs a request, each batch's answers stored as it arrives."""
    size = connector.settings.bulk_size
    batches = [keys[i:i + size] for i in range(0, len(keys), size)]
    for _, answers in one_by_one(batches, lambda b: connector.lookup_many(b, until, pacer),
                                 until):
        yield [(ico, _guarded("ares", ico, lambda r=result: _ares_answer(_raised(r))))
               for ico, result in answers.items()]


def _raised(result: Any) -> Any:
    if isinstance(result, ConnectorError):
        raise result  # classified by _guarded
    return result


def _ares_answer(result: Any) -> Outcome:
    # found: the detail is the subject itself (the evidence, and what _store_ares maps)
    return ("found" if result.found else "not_found"), result.payload or result.error or {}, None


def _store_ares(session: Session, ctx: RunContext, ico: str, outcome: Outcome,
                known: CanonicalRecord | None) -> Outcome:
    if outcome[0] == "not_found" and known is not None:
        return _standing(outcome, "ARES found no subject for an IČO it knew: the last answer "
                                  "stands until ARES answers again")
    if outcome[0] != "found":
        return outcome
    try:
        values = map_record(ctx.config.spec("ares"), outcome[1]).present()
    except MappingError as exc:  # an unreadable subject decides nothing: the last one stands
        return UNKNOWN, {**outcome[1], "reason": f"the ARES subject cannot be read: {exc}"}, None
    record = dict(values=values, run_id=ctx.run_id,
                  source_hash=outcome[1].get("datumAktualizace", ""))
    if known is None:
        session.add(CanonicalRecord(system="ares", record_id=ico, **record))
    else:  # the subject as ARES says it today replaces the last one
        for name, value in record.items():
            setattr(known, name, value)
    return outcome


# --- ISIR ------------------------------------------------------------------------------------


def ask_isir(ctx: RunContext, connector: Any, keys: list[str], until: float | None,
             pacer: Pace) -> Answers:
    for ico, outcome in one_by_one(keys, lambda ico: _guarded("isir", ico, lambda: _isir_answer(
            connector.lookup(ico, until, pacer))), until):
        yield [(ico, outcome)]


def _isir_answer(result: Any) -> Outcome:
    cases = [_case(p) for p in result.proceedings]
    detail = {"proceedings": result.proceedings, "case": "; ".join(cases) or None,
              "code": result.error_code, "synced_at": result.synced_at}
    return result.status, detail, None


def _case(row: dict[str, Any]) -> str:
    """The file number an accountant quotes: "KSPH 60 INS 1234/2024 (KONKURS)"."""
    return (f"{row.get('cisloSenatu')} {row.get('druhVec')} {row.get('bcVec')}/{row.get('rocnik')}"
            f" ({row.get('druhStavKonkursu')})")


def _store_isir(session: Session, ctx: RunContext, ico: str, outcome: Outcome,
                known: CanonicalRecord | None) -> Outcome:
    """An insolvency is stored; it is cleared only by ISIR listing its proceedings as ended,
    not by WS2 ("no record found") nor by a failed check."""
    status, detail, _ = outcome
    if status == "clear" and not detail.get("proceedings") and known is not None:
        return _standing(outcome, "ISIR lists no proceeding for a known insolvency: it stands "
                                  "until ISIR lists the proceeding as ended")
    if status not in ("insolvent", "clear"):
        return outcome
    if known is not None:
        session.delete(known)
        session.flush()
    if status == "insolvent":
        values = {"company_id": ico, "registry_status": "insolvent"}
        # Hashed by content, not by run: a daily re-check that finds the same insolvency is no
        # change, so the record keeps its hub id instead of being matched again.
        session.add(CanonicalRecord(system="isir", record_id=ico, source_hash=content_hash(values),
                                    values=values, run_id=ctx.run_id))
    return outcome


# --- VIES ------------------------------------------------------------------------------------


def ask_vies(ctx: RunContext, connector: Any, keys: list[str], until: float | None,
             pacer: Pace) -> Answers:
    """The run's VAT IDs in one batch: the connector caps concurrency per member state and
    yields each answer as it arrives, until the deadline."""
    for vat_id, result in connector.check_each(keys, until, pacer):
        yield [(vat_id, _guarded("vies", vat_id, lambda r=result: _vies_answer(_raised(r))))]


def _vies_answer(result: Any) -> Outcome:
    if result.busy:  # VIES did not look at the number: asked again, never stored
        return BUSY, {"fault": result.fault}, None
    detail = {"name": result.name, "address": result.address, "fault": result.fault,
              "operation": result.operation,
              "request_date": result.request_date.isoformat() if result.request_date else None}
    return result.status, detail, result.request_identifier


def _store_vies(session: Session, ctx: RunContext, vat_id: str, outcome: Outcome,
                known: CanonicalRecord | None) -> Outcome:
    return outcome  # VIES holds no canonical record: the check is the whole answer


KEYS = {"ares": ("company_id", True), "isir": ("company_id", True), "vies": ("vat_id", False)}
STORES: dict[str, Store] = {"ares": _store_ares, "isir": _store_isir, "vies": _store_vies}


# --- evidence for the golden record's lineage ------------------------------------------------


def evidence(session: Session, registry: str, key: str | None,
             on: date | None = None) -> dict[str, Any] | None:
    """The latest check of ``key`` (on or before ``on``) in which the registry said something
    about it (``EVIDENCE``), as lineage evidence; a failed or refused check never is."""
    if not key:
        return None
    query = select(RegistryCheck).where(
        RegistryCheck.registry_name == registry, RegistryCheck.key == key,
        RegistryCheck.status.in_(EVIDENCE.get(registry, ())))
    if on is not None:
        query = query.where(RegistryCheck.checked_on <= on)
    check = session.scalar(query.order_by(RegistryCheck.checked_on.desc()).limit(1))
    return None if check is None else _as_evidence(check)


def evidence_of(session: Session, registry: str, keys: Collection[str]) -> dict[str, dict[str, Any]]:
    """``evidence`` for many keys at once (the latest check of each), an IN list per chunk."""
    found: dict[str, dict[str, Any]] = {}
    statuses = EVIDENCE.get(registry, ())
    for chunk in in_chunks(sorted({k for k in keys if k})):
        query = (select(RegistryCheck).where(RegistryCheck.registry_name == registry,
                                             RegistryCheck.key.in_(chunk),
                                             RegistryCheck.status.in_(statuses))
                 .order_by(RegistryCheck.key, RegistryCheck.checked_on.desc(), RegistryCheck.id.desc()))
        for check in session.scalars(query):
            found.setdefault(check.key, _as_evidence(check))  # the first of each key is its latest
    return found


def _as_evidence(check: RegistryCheck) -> dict[str, Any]:
    return {"registry": check.registry_name, "check_id": check.id, "checked_on": check.checked_on.isoformat(),
            "status": check.status, "consultation": check.request_identifier,
            "request_date": (check.detail or {}).get("request_date")}


def field_evidence(session: Session, source: str, record_id: str,
                   field: str) -> dict[str, Any] | None:
    """Evidence for a golden value whose lineage says it came from a registry record."""
    if field not in EVIDENCED_FIELDS.get(source, ()):
        return None
    return evidence(session, source, record_id)
