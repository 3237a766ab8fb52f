"""Registry checks: ARES facts about Czech companies, ISIR insolvency, VIES validity of VAT IDs,
each stored as evidence (RegistryCheck: what was asked, when, the answer, the consultation number).

- A key gets at most one RegistryCheck per registry and day; a *final* answer (valid, invalid,
  found, not found, clear, insolvent, malformed input, refused) is the day's cache and is not asked again.
- A *pending* answer (``unknown``: the registry could not say; ``security_error``: the response
  was refused unread) is asked again by the next run, which updates that day's row.
- An ARES subject becomes the canonical record ("ares", IČO); an insolvency becomes the record
  ("isir", IČO) holding ``registry_status: insolvent``, so survivorship can let it win.
- Configuration errors (a requester VAT ID VIES refuses, credentials, a wrong endpoint) stop the
  step: they would make every answer wrong, not one.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from connectors.errors import ConnectorError, Kind
from core.hashing import content_hash
from core.clock import utcnow
from hub.pipeline.context import RunContext, build_connector, set_metric
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, RegistryCheck
from mappings.engine import map_record
from mappings.errors import MappingError

log = logging.getLogger("custhub.registries")

REGISTRY_SYSTEMS = frozenset({"ares", "isir"})  # registries that hold canonical records
PENDING = frozenset({"unknown", "security_error"})  # asked again by the next run
# Customer fields a registry can vouch for, for the evidence of a golden value's lineage.
EVIDENCED_FIELDS = {"ares": ("legal_name", "legal_form", "company_id", "vat_id", "street", "city",
                             "postal_code", "country", "registry_status"),
                    "isir": ("registry_status",)}

Outcome = tuple[str, dict[str, Any], str | None]  # status, detail, consultation number


def check_registries(ctx: RunContext) -> dict[str, int]:
    steps: dict[str, Callable[[RunContext, Any], Counter[str]]] = {
        "ares": check_ares, "isir": check_isir, "vies": check_vies}
    counts: Counter[str] = Counter()
    for name, step in steps.items():
        block = ctx.config.registries.get(name)
        if block is not None and block.enabled:
            counts.update(step(ctx, build_connector(ctx.config, name)))
    with session_scope(ctx.engine) as session:
        for metric, value in counts.items():
            set_metric(session, ctx.run_id, "registries", metric, value)
    return dict(counts)


# --- what to ask -----------------------------------------------------------------------------


def _identifiers(ctx: RunContext, field: str, czech_only: bool) -> list[str]:
    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(CanonicalRecord).where(
            CanonicalRecord.system.in_(ctx.config.enabled_systems())))
        return sorted({r.values[field] for r in rows if r.values.get(field)
                       and (not czech_only or r.values.get("country", "CZ") == "CZ")})


def due(ctx: RunContext, registry: str, keys: Iterable[str], today: date) -> list[str]:
    """Keys without a final answer today: never asked today, or left pending."""
    with session_scope(ctx.engine) as session:
        done = set(session.scalars(select(RegistryCheck.key).where(
            RegistryCheck.registry_name == registry, RegistryCheck.checked_on == today,
            RegistryCheck.status.not_in(PENDING))))
    return [k for k in keys if k not in done]


def _guarded(registry: str, key: str, ask: Callable[[], Outcome]) -> Outcome:
    """Turn the failures that concern one key into an answer; others stop the step.

    The status recorded is the ``outcome`` of the connector's failure-table row that matched
    (connectors.classify): "invalid_input" for malformed input, "unknown" when the registry
    was unreachable or overloaded (never "invalid": it stays pending for a later run),
    "security_error" for an unsafe response, "refused" for a number VIES will not check. A row
    without an outcome (credentials, a wrong endpoint) stops the step."""
    try:
        return ask()
    except ConnectorError as exc:
        if exc.outcome is None:
            raise
        if exc.kind is Kind.SECURITY:
            log.warning("%s answered %s with an unsafe response: %s", registry, key, exc)
        return exc.outcome, {"reason": str(exc), "code": exc.detail}, None


def _store_check(session: Session, ctx: RunContext, registry: str, key: str, today: date,
                 outcome: Outcome) -> None:
    """Today's row for the key: created, or updated when it was pending (the unique key is
    (registry, key, day)); the number of attempts that day is kept in the detail."""
    status, detail, identifier = outcome
    row = session.scalar(select(RegistryCheck).where(
        RegistryCheck.registry_name == registry, RegistryCheck.key == key,
        RegistryCheck.checked_on == today))
    attempts = 1 + int((row.detail or {}).get("attempts", 1)) if row is not None else 1
    values = dict(status=status, detail={**detail, "attempts": attempts},
                  request_identifier=identifier, run_id=ctx.run_id, checked_at=utcnow())
    if row is None:
        session.add(RegistryCheck(registry_name=registry, key=key, checked_on=today, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)


# --- ARES ------------------------------------------------------------------------------------


def check_ares(ctx: RunContext, connector: Any) -> Counter[str]:
    spec, today, counts = ctx.config.spec("ares"), utcnow().date(), Counter[str]()
    for ico in due(ctx, "ares", _identifiers(ctx, "company_id", czech_only=True), today):
        result: list[Any] = []
        outcome = _guarded("ares", ico, lambda i=ico: _ares_answer(connector, i, result))
        with session_scope(ctx.engine) as session:
            _store_check(session, ctx, "ares", ico, today, outcome)
            if outcome[0] in ("found", "not_found"):
                _store_subject(session, spec, ico, result[0].payload or None, ctx.run_id)
        counts[f"ares_{outcome[0]}"] += 1
    return counts


def _ares_answer(connector: Any, ico: str, keep: list[Any]) -> Outcome:
    result = connector.lookup(ico)
    keep.append(result)
    return ("found" if result.found else "not_found"), result.payload or result.error or {}, None


def _store_subject(session: Session, spec: Any, ico: str, payload: dict[str, Any] | None,
                   run_id: str) -> None:
    session.execute(delete(CanonicalRecord).where(CanonicalRecord.system == "ares",
                                                  CanonicalRecord.record_id == ico))
    if payload is None:
        return
    try:
        values = map_record(spec, payload).present()
    except MappingError:
        return  # the evidence is kept in RegistryCheck; an unreadable subject decides nothing
    session.add(CanonicalRecord(system="ares", record_id=ico, values=values,
                                source_hash=payload.get("datumAktualizace", ""), run_id=run_id))


# --- ISIR ------------------------------------------------------------------------------------


def check_isir(ctx: RunContext, connector: Any) -> Counter[str]:
    today, counts = utcnow().date(), Counter[str]()
    for ico in due(ctx, "isir", _identifiers(ctx, "company_id", czech_only=True), today):
        outcome = _guarded("isir", ico, lambda i=ico: _isir_answer(connector, i))
        with session_scope(ctx.engine) as session:
            _store_check(session, ctx, "isir", ico, today, outcome)
            if outcome[0] in ("insolvent", "clear"):
                _store_insolvency(session, ico, outcome[0] == "insolvent", ctx.run_id)
        counts[f"isir_{outcome[0]}"] += 1
    return counts


def _isir_answer(connector: Any, ico: str) -> Outcome:
    result = connector.lookup(ico)
    cases = [_case(p) for p in result.proceedings]
    detail = {"proceedings": result.proceedings, "case": "; ".join(cases) or None,
              "code": result.error_code, "synced_at": result.synced_at}
    return result.status, detail, None


def _case(row: dict[str, Any]) -> str:
    """The file number an accountant quotes: "KSPH 60 INS 1234/2024 (KONKURS)"."""
    return (f"{row.get('cisloSenatu')} {row.get('druhVec')} {row.get('bcVec')}/{row.get('rocnik')}"
            f" ({row.get('druhStavKonkursu')})")


def _store_insolvency(session: Session, ico: str, insolvent: bool, run_id: str) -> None:
    session.execute(delete(CanonicalRecord).where(CanonicalRecord.system == "isir",
                                                  CanonicalRecord.record_id == ico))
    if insolvent:
        values = {"company_id": ico, "registry_status": "insolvent"}
        # Hashed by content, not by run: a daily re-check that finds the same insolvency is no
        # change, so the record keeps its hub id instead of being matched again.
        session.add(CanonicalRecord(system="isir", record_id=ico, source_hash=content_hash(values),
                                    values=values, run_id=run_id))


# --- VIES ------------------------------------------------------------------------------------


def check_vies(ctx: RunContext, connector: Any) -> Counter[str]:
    """All due VAT IDs in one batch: the connector caps concurrency per member state."""
    today, counts = utcnow().date(), Counter[str]()
    todo = due(ctx, "vies", _identifiers(ctx, "vat_id", czech_only=False), today)
    for vat_id, result in connector.check_many(todo).items():
        outcome = _guarded("vies", vat_id, lambda r=result: _vies_answer(r))
        with session_scope(ctx.engine) as session:
            _store_check(session, ctx, "vies", vat_id, today, outcome)
        counts[f"vies_{outcome[0]}"] += 1
    return counts


def _vies_answer(result: Any) -> Outcome:
    if isinstance(result, ConnectorError):
        raise result  # classified by _guarded; configuration errors stop the step
    detail = {"name": result.name, "address": result.address, "fault": result.fault,
              "operation": result.operation,
              "request_date": result.request_date.isoformat() if result.request_date else None}
    return result.status, detail, result.request_identifier


# --- evidence for the golden record's lineage ------------------------------------------------


def evidence(session: Session, registry: str, key: str | None,
             on: date | None = None) -> dict[str, Any] | None:
    """The latest final check of ``key`` (on or before ``on``), as lineage evidence."""
    if not key:
        return None
    query = select(RegistryCheck).where(
        RegistryCheck.registry_name == registry, RegistryCheck.key == key,
        RegistryCheck.status.not_in(PENDING))
    if on is not None:
        query = query.where(RegistryCheck.checked_on <= on)
    check = session.scalar(query.order_by(RegistryCheck.checked_on.desc()).limit(1))
    if check is None:
        return None
    return {"registry": registry, "check_id": check.id, "checked_on": check.checked_on.isoformat(),
            "status": check.status, "consultation": check.request_identifier,
            "request_date": (check.detail or {}).get("request_date")}


def field_evidence(session: Session, source: str, record_id: str,
                   field: str) -> dict[str, Any] | None:
    """Evidence for a golden value whose lineage says it came from a registry record."""
    if field not in EVIDENCED_FIELDS.get(source, ()):
        return None
    return evidence(session, source, record_id)
