"""Registry checks: ARES facts about Czech companies, VIES validity of VAT IDs, with evidence.

Each look-up is stored as a RegistryCheck (what was asked, when, the answer), at most once
per key and day; an ARES subject also becomes a source record ("ares") for survivorship.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from connectors.errors import BadRecordError, TransientError
from hub.pipeline.context import RunContext, build_connector, set_metric, utcnow
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord, RegistryCheck
from mappings.engine import load_spec, map_record
from mappings.errors import MappingError

REGISTRY_SYSTEMS = frozenset({"ares"})


def check_registries(ctx: RunContext) -> dict[str, int]:
    counts: Counter[str] = Counter()
    if "ares" in ctx.config.registries:
        counts.update(_check_ares(ctx))
    if "vies" in ctx.config.registries:
        counts.update(_check_vies(ctx))
    with session_scope(ctx.engine) as session:
        for metric, value in counts.items():
            set_metric(session, ctx.run_id, "registries", metric, value)
    return dict(counts)


def _identifiers(ctx: RunContext, field: str, czech_only: bool) -> list[str]:
    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(CanonicalRecord).where(
            CanonicalRecord.system.in_(ctx.config.enabled_systems())))
        return sorted({r.values[field] for r in rows if r.values.get(field)
                       and (not czech_only or r.values.get("country", "CZ") == "CZ")})


def _checked_today(session: Session, registry: str, key: str, today: date) -> bool:
    return session.scalar(select(RegistryCheck.id).where(
        RegistryCheck.registry_name == registry, RegistryCheck.key == key,
        RegistryCheck.checked_on == today)) is not None


def _check_ares(ctx: RunContext) -> Counter[str]:
    connector, spec, today = build_connector(ctx.config, "ares"), load_spec("ares"), utcnow().date()
    counts: Counter[str] = Counter()
    for ico in _identifiers(ctx, "company_id", czech_only=True):
        with session_scope(ctx.engine) as session:
            if _checked_today(session, "ares", ico, today):
                continue
            result = connector.lookup(ico)
            status = "found" if result.found else "not_found"
            session.add(RegistryCheck(registry_name="ares", key=ico, checked_on=today, status=status,
                                      request_identifier=None, detail=result.payload or result.error or {},
                                      run_id=ctx.run_id, checked_at=utcnow()))
            _store_subject(session, spec, ico, result.payload if result.found else None, ctx.run_id)
            counts[f"ares_{status}"] += 1
    return counts


def _store_subject(session: Session, spec, ico: str, payload: dict | None, run_id: str) -> None:  # type: ignore[no-untyped-def]
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


def _check_vies(ctx: RunContext) -> Counter[str]:
    connector, today = build_connector(ctx.config, "vies"), utcnow().date()
    counts: Counter[str] = Counter()
    for vat_id in _identifiers(ctx, "vat_id", czech_only=False):
        with session_scope(ctx.engine) as session:
            if _checked_today(session, "vies", vat_id, today):
                continue
            status, detail, identifier = _vies_answer(connector, vat_id)
            session.add(RegistryCheck(registry_name="vies", key=vat_id, checked_on=today,
                                      status=status, request_identifier=identifier, detail=detail,
                                      run_id=ctx.run_id, checked_at=utcnow()))
            counts[f"vies_{status}"] += 1
    return counts


def _vies_answer(connector, vat_id: str) -> tuple[str, dict, str | None]:  # type: ignore[no-untyped-def]
    try:
        check = connector.check_vat(vat_id[:2], vat_id[2:])
    except BadRecordError as e:
        return "invalid_input", {"reason": str(e)}, None
    except TransientError as e:
        # Unreachable is never "invalid": the check stays pending for a later run.
        return "unknown", {"reason": str(e)}, None
    detail = {"name": check.name, "address": check.address, "fault": check.fault,
              "request_date": check.request_date.isoformat() if check.request_date else None}
    return check.status, detail, check.request_identifier
