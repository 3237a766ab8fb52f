"""What the review page shows, read from the store: the queue, one item's records side by side,
and the history of the golden record (every version, what changed, and where each value came from)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from hub import review
from hub.review import ReviewView, get_item, list_items
from core.clock import utcnow
from hub.store.db import session_scope
from hub.store.models import AuditEntry, CanonicalRecord, GoldenRecord, ReviewItem, StewardDecision, Xref
from hub.xref_ops import GoldenVersion, golden_history
from mappings.customer import CUSTOMER_FIELDS
from mappings.steward_values import RefusedValue

KIND_TITLES = {"conflict": "Conflict", "match_candidate": "Match candidate",
               "deleted_at_source": "Deleted at source"}


@dataclass(frozen=True)
class Outcome:
    """What became of a steward's form: recorded, or refused with the reason to show."""

    recorded: bool
    message: str


@dataclass(frozen=True)
class QueueRow:
    item: ReviewView
    company: str


@dataclass(frozen=True)
class Column:
    """One record shown as a column: a system's record, or the golden record."""

    title: str
    subtitle: str
    values: dict[str, Any]


@dataclass(frozen=True)
class HistoryEntry:
    version: GoldenVersion
    changed: dict[str, tuple[Any, Any]]  # field -> (before, after)


@dataclass(frozen=True)
class Detail:
    item: ReviewView
    company: str
    columns: list[Column]
    fields: list[str]
    differing: set[str]
    choices: list[tuple[str, str]]  # (label, value) a steward may pick for a conflict
    history: list[HistoryEntry] = field(default_factory=list)
    decisions: list[StewardDecision] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters, as GET parameters: kind, a system on either side, older than N days."""

    kind: str = ""
    system: str = ""
    older_than_days: int | None = None

    def keeps(self, item: ReviewView) -> bool:
        if self.kind and item.kind != self.kind:
            return False
        if self.system and self.system not in (item.system, item.other_system):
            return False
        if self.older_than_days is not None:
            cutoff = utcnow() - timedelta(days=self.older_than_days)
            return _naive_utc(item.created_at) <= _naive_utc(cutoff)
        return True


def _naive_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored in UTC); compare both as naive UTC
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


QUEUE_SHOWN = 200  # rows on one page, oldest first; the count above them says how many fit


def queue(engine: Engine, keep: QueueFilter | None = None) -> tuple[list[QueueRow], int]:
    """The oldest open items that pass the filter, and how many pass it in all.

    The open queue is a steward's backlog (hundreds, not millions): read in one query and
    filtered here, which keeps hub.review the one place that reads review items."""
    items = [i for i in list_items(engine, status="open", limit=100_000) if keep is None or keep.keeps(i)]
    shown = items[:QUEUE_SHOWN]
    names = _names(engine, {i.hub_id for i in shown if i.hub_id})
    return [QueueRow(i, names.get(i.hub_id or "", "")) for i in shown], len(items)


def detail(engine: Engine, item_id: int) -> Detail:
    item = get_item(engine, item_id)
    records = _record_columns(engine, item)
    golden = _current_golden(engine, item.hub_id)
    columns = records + ([Column("golden record", f"{item.hub_id} v{golden.version}", golden.values)]
                         if golden is not None else [])
    present = {f for c in columns for f in c.values}
    fields = [f for f in CUSTOMER_FIELDS if f in present]
    # A field differs when the records hold two different values; a record that lacks the
    # field is not a difference (that system may not carry it).
    differing = {f for f in fields if len({_norm(c.values.get(f)) for c in records} - {None}) > 1}
    if item.field:
        differing.add(item.field)
    history = history_entries(engine, item.hub_id) if item.hub_id else []
    return Detail(item, _names(engine, {item.hub_id}).get(item.hub_id or "", ""), columns, fields,
                  differing, _choices(item, records, golden), history, *_decisions(engine, item))


def _record_columns(engine: Engine, item: ReviewView) -> list[Column]:
    """The records the question is about: both of a match candidate, else all of the hub id."""
    with session_scope(engine) as session:
        if item.kind == "match_candidate":
            keys = [(item.system, item.record_id), (item.other_system, item.other_record_id)]
        else:
            keys = list(session.execute(select(Xref.system, Xref.record_id)
                                        .where(Xref.hub_id == item.hub_id)
                                        .order_by(Xref.system, Xref.record_id)).tuples())
        columns = []
        for system, record_id in keys:
            row = session.get(CanonicalRecord, (system, record_id))
            columns.append(Column(system or "", record_id or "", dict(row.values) if row else {}))
        return columns


def _current_golden(engine: Engine, hub_id: str | None) -> GoldenRecord | None:
    if hub_id is None:
        return None
    with session_scope(engine) as session:
        return session.scalar(select(GoldenRecord).where(GoldenRecord.hub_id == hub_id,
                                                         GoldenRecord.is_current.is_(True)))


def history_entries(engine: Engine, hub_id: str) -> list[HistoryEntry]:
    """Newest first, each version with the fields it changed against the one before."""
    entries, before = [], {}
    for version in golden_history(engine, hub_id):
        changed = {f: (before.get(f), version.values.get(f))
                   for f in CUSTOMER_FIELDS if before.get(f) != version.values.get(f)}
        entries.append(HistoryEntry(version, changed))
        before = version.values
    return list(reversed(entries))


def _decisions(engine: Engine, item: ReviewView) -> tuple[list[StewardDecision], list[AuditEntry]]:
    with session_scope(engine) as session:
        decisions = list(session.scalars(select(StewardDecision).where(
            StewardDecision.review_item_id == item.id).order_by(StewardDecision.decided_at)))
        audit = list(session.scalars(select(AuditEntry).where(
            AuditEntry.subject == f"review:{item.id}").order_by(AuditEntry.at)))
        return decisions, audit


def _choices(item: ReviewView, records: list[Column], golden: GoldenRecord | None) -> list[tuple[str, str]]:
    """The values a steward may pick for a conflict, each labelled with who holds it.

    Taken from what the records hold now and from the golden record (current, and as it was
    when the question was asked), not from the item's text: a refused write's candidates say
    "changed at the source", which is a note, not a value.
    """
    if item.kind != "conflict" or not item.field:
        return []
    holders: dict[str, list[str]] = {}
    held = [(f"{c.title} {c.subtitle}", c.values.get(item.field)) for c in records]
    held.append(("golden record", golden.values.get(item.field) if golden else None))
    held.append(("golden before", item.candidates.get("golden")))
    for label, value in held:
        if value is not None and not isinstance(value, dict | list) and str(value) != "":
            holders.setdefault(str(value), []).append(label)
    return [(", ".join(labels), value) for value, labels in holders.items()]


def _names(engine: Engine, hub_ids: set[str | None]) -> dict[str, str]:
    wanted = sorted(h for h in hub_ids if h)
    if not wanted:
        return {}
    with session_scope(engine) as session:
        rows = session.scalars(select(GoldenRecord).where(GoldenRecord.hub_id.in_(wanted),
                                                          GoldenRecord.is_current.is_(True)))
        return {g.hub_id: g.values.get("legal_name", "") for g in rows}


def _norm(value: Any) -> Any:
    return None if value in (None, "") else str(value)


def decide(engine: Engine, item_id: int, user: str, action: str, reason: str, value: str,
           typed_value: str) -> Outcome:
    """Call the review service with what the item page's form sent."""
    if not reason:
        return Outcome(False, "Say why (the reason is kept in the audit trail); nothing was recorded.")
    try:
        if action == "choose_value":
            review.resolve_conflict(engine, item_id, _chosen(engine, item_id, value, typed_value), user, reason)
        elif action in ("match", "not_match"):
            review.decide_match(engine, item_id, action == "match", user, reason)
        elif action == "dismiss":
            review.dismiss(engine, item_id, user, reason)
        else:
            return Outcome(False, f"Not recorded: unknown action {action!r}.")
    except (review.ReviewError, RefusedValue, ValueError) as e:
        return Outcome(False, f"Not recorded: {e}")
    return Outcome(True, f"Decision recorded for item {item_id}; it takes effect in the next run.")


def _chosen(engine: Engine, item_id: int, shown: str, typed: str) -> Any:
    """The one value the steward gave: a radio of the values shown, or the typed one.

    The typed box belongs to the last radio ("type a value"), whose value is empty; typing
    while another radio is ticked is ambiguous and refused rather than letting either win.
    """
    if shown and typed:
        raise ValueError(f"you ticked {shown!r} and typed {typed!r}; tick \"type a value\" to use "
                         "the typed one, or empty the box")
    if typed:
        return typed
    if not shown:
        raise ValueError("choose one of the values shown, or type a value")
    return _candidate(engine, item_id, shown)


def _candidate(engine: Engine, item_id: int, shown: str) -> Any:
    """One of the values the page offered, as the records hold it (an int stays an int)."""
    found = detail(engine, item_id)
    if shown not in {value for _, value in found.choices}:
        raise ValueError("choose one of the values shown, or type one")
    for column in found.columns:
        value = column.values.get(found.item.field or "")
        if value is not None and str(value) == shown:
            return value
    return shown


def queue_systems(engine: Engine) -> list[str]:
    """The systems named by open items, for the queue's filter."""
    with session_scope(engine) as session:
        rows = session.execute(select(ReviewItem.system, ReviewItem.other_system)
                               .where(ReviewItem.status == "open").distinct())
        return sorted({s for pair in rows for s in pair if s})
