"""What the steward's other pages show, read from the store: a golden record (current values
with lineage, its records, history, open questions and xref changes), where a merged-away hub
id went, search by name, IČO or VAT ID, link / unlink / merge / split, and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, or_, select

from hub import xref_ops
from hub.review import ReviewView, get_item
from hub.store.db import session_scope
from hub.store.models import AuditEntry, AuditHubId, GoldenRecord, ReviewItem, Xref
from hub.web.views import HistoryEntry, Outcome, history_entries
from hub.xref_ops import XREF_ACTIONS, GoldenVersion, MergedAway, audit_hub_ids, merged_into
from mappings.customer import CUSTOMER_FIELDS


@dataclass(frozen=True)
class Member:
    """A record linked to a golden record, as the xref holds it."""

    system: str
    record_id: str
    rule: str
    linked_at: Any
    deleted: bool


@dataclass(frozen=True)
class Golden:
    """A golden record's page: current values with lineage, records, history, open questions."""

    hub_id: str
    current: GoldenVersion | None
    fields: list[str]
    members: list[Member]
    history: list[HistoryEntry]
    open_items: list[ReviewView]
    audit: list[AuditEntry]
    moved: list[tuple[str, str]] = field(default_factory=list)  # (system:record_id, hub id now)


def golden(engine: Engine, hub_id: str) -> Golden | None:
    """None when the hub id never existed (no record linked, no version ever built)."""
    history = history_entries(engine, hub_id)
    members = _members(engine, hub_id)
    if not history and not members:
        return None
    current = next((h.version for h in history if h.version.is_current), None)
    fields = [f for f in CUSTOMER_FIELDS if current is not None and f in current.values]
    items = _open_items(engine, hub_id)
    moved = _where_records_went(engine, history[0].version) if history and not members else []
    return Golden(hub_id, current, fields, members, history, items, _hub_audit(engine, hub_id), moved)


def _where_records_went(engine: Engine, last: GoldenVersion) -> list[tuple[str, str]]:
    """For a hub id left without records (not by a merge): where the records its last version
    was built from are linked now, read from that version's lineage."""
    keys = sorted({(str(o.get("source")), str(o.get("record_id"))) for o in last.lineage.values()
                   if isinstance(o, dict) and o.get("source") and o.get("record_id")})
    with session_scope(engine) as session:
        rows = [(k, session.get(Xref, k)) for k in keys]
        return [(f"{s}:{r}", row.hub_id) for (s, r), row in rows if row is not None and row.hub_id != last.hub_id]


def _open_items(engine: Engine, hub_id: str) -> list[ReviewView]:
    with session_scope(engine) as session:
        ids = list(session.scalars(select(ReviewItem.id).where(ReviewItem.hub_id == hub_id,
                                                               ReviewItem.status == "open").order_by(ReviewItem.id)))
    return [get_item(engine, i) for i in ids]  # a few per company


def forwarded(engine: Engine, hub_id: str) -> MergedAway | None:
    """Where a merged-away hub id's records are now; None for a live id."""
    return merged_into(engine, hub_id)


def _members(engine: Engine, hub_id: str) -> list[Member]:
    with session_scope(engine) as session:
        rows = session.scalars(select(Xref).where(Xref.hub_id == hub_id).order_by(Xref.system, Xref.record_id))
        return [Member(r.system, r.record_id, r.rule, r.linked_at, bool(r.source_deleted)) for r in rows]


def _hub_audit(engine: Engine, hub_id: str) -> list[AuditEntry]:
    """The xref operations that named this hub id: on it (merge into, split of) or its records,
    newest first, found by the audit_hub_id index (the whole trail, at any size)."""
    with session_scope(engine) as session:
        return list(session.scalars(
            select(AuditEntry).join(AuditHubId, AuditHubId.audit_id == AuditEntry.id)
            .where(AuditHubId.hub_id == hub_id, AuditEntry.action.in_(XREF_ACTIONS))
            .order_by(AuditEntry.id.desc())))


@dataclass(frozen=True)
class Hit:
    hub_id: str
    name: str
    company_id: str
    vat_id: str


SEARCH_LIMIT = 50


def search(engine: Engine, text: str) -> list[Hit]:
    """Current golden records whose name, IČO or VAT ID contains ``text`` (case-insensitive).

    A LIKE over the JSON values scans every current version: fine at demo scale. At a million
    companies it would need the three fields as columns of golden_record (or a search table)
    with indexes: a b-tree on company_id and vat_id for exact and prefix look-ups, and a trigram
    index (PostgreSQL pg_trgm) on lower(legal_name) for "contains"."""
    needle = " ".join(text.split())
    if not needle:
        return []
    compact = "".join(needle.split())  # IČO and VAT ID as people write them: "CZ 255 966 41"
    values = {f: GoldenRecord.values[f].as_string() for f in ("legal_name", "company_id", "vat_id")}
    query = (select(GoldenRecord.hub_id, GoldenRecord.values).where(
        GoldenRecord.is_current.is_(True),
        or_(*(values["legal_name"].ilike(_contains(v), escape="\\") for v in sorted(_cases(needle))),
            values["company_id"].ilike(_contains(compact), escape="\\"),
            values["vat_id"].ilike(_contains(compact), escape="\\")))
        .order_by(GoldenRecord.hub_id).limit(SEARCH_LIMIT))
    with session_scope(engine) as session:
        return [Hit(h, str(v.get("legal_name") or ""), str(v.get("company_id") or ""), str(v.get("vat_id") or ""))
                for h, v in session.execute(query)]


def _cases(text: str) -> set[str]:
    """The ways a name is written. SQLite's (and a C-locale PostgreSQL's) case folding knows
    ASCII only, so "škoda" would miss "Škoda": each variant is tried, case-insensitive for ASCII."""
    return {text, text.lower(), text.upper(), text.capitalize(), text.title()}


def _contains(text: str) -> str:
    """A LIKE pattern for "contains text", its own % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def xref_change(engine: Engine, hub_id: str, user: str, action: str, reason: str, form: dict[str, Any]) -> Outcome:
    """Link, unlink, merge or split from the golden page: the functions `custhub xref` calls."""
    if not reason:
        return Outcome(False, "Say why (the reason is kept in the audit trail); nothing was changed.")
    system, record_id = str(form.get("system", "")).strip(), str(form.get("record_id", "")).strip()
    try:
        if action == "link":
            xref_ops.link(engine, system, record_id, hub_id, user, reason)
            message = f"{system}:{record_id} is linked to {hub_id}."
        elif action == "unlink":
            new_id = xref_ops.unlink(engine, system, record_id, user, reason)
            message = f"{system}:{record_id} left {hub_id}; it is {new_id} now."
        elif action == "merge":
            other = str(form.get("other_hub_id", "")).strip().upper()
            moved = xref_ops.merge(engine, hub_id, other, user, reason)
            message = f"{other} merged into {hub_id} ({_records(moved)}); {other} forwards here."
        elif action == "split":
            records = [_record_key(r) for r in form.get("records", [])]
            new_id = xref_ops.split(engine, hub_id, records, user, reason)
            message = f"{_records(len(records))} split off {hub_id} into {new_id}."
        else:
            return Outcome(False, f"Nothing changed: unknown action {action!r}.")
    except (xref_ops.XrefError, ValueError) as e:
        return Outcome(False, f"Nothing changed: {e}")
    return Outcome(True, message + " The next run rebuilds the golden records.")


def _records(count: int) -> str:
    return f"{count} record" if count == 1 else f"{count} records"


def _record_key(text: str) -> tuple[str, str]:
    system, sep, record_id = str(text).partition(":")
    if not sep or not system or not record_id:
        raise ValueError(f"{text!r} is not system:record_id")
    return system, record_id


AUDIT_LIMIT = 500


def audit_trail(engine: Engine, actor: str = "", action: str = "") -> list[AuditEntry]:
    """Decisions, xref operations and approvals, newest first: who, when, what and why."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(AUDIT_LIMIT)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    with session_scope(engine) as session:
        return list(session.scalars(query))


def audit_actions(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return sorted(session.scalars(select(AuditEntry.action).distinct()))


def hub_ids_of(entry: AuditEntry) -> list[str]:
    """Every hub id an audit entry names, for links to their pages."""
    return sorted(audit_hub_ids(entry.subject, entry.detail))


def shown(value: Any) -> str:
    """An audit detail's value as a person reads it: a list as "a, b", not as Python's repr."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):  # a decision's {"value": …}: the value itself
        return shown(value["value"]) if set(value) == {"value"} else \
            ", ".join(f"{k} {shown(v)}" for k, v in value.items())
    return "" if value is None else str(value)
