"""What one reconcile looks at: the whole estate, or the change set and what it touches.

docs/adr/0005-incremental-reconcile.md. The change set is read from the store on indexed or
narrow columns: records whose content or deletion state moved on since the xref last saw
them, new records, steward decisions and xref moves made since the last reconcile, and hub ids
a conflict held. ``reconciliation.scope`` closes it over what matching and survivorship join
records by. A full run is made the first time, every ``reconcile.full_every_days``, when a
full run is asked for, and whenever the rules changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import polars as pl
from sqlalchemy import (Column, ColumnElement, MetaData, Select, String, Table, and_, bindparam, cast, delete, exists,
                        func, insert, literal, or_, select)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.hashing import content_hash
from hub.pipeline.context import RunContext
from hub.pipeline.golden import run_rules
from hub.pipeline.registries import EVIDENCED_FIELDS
from hub.pipeline.linking import scoped_rows
from hub.store.bulk import bulk_insert, temporary_keys
from hub.store.db import in_chunks
from hub.store.models import (AuditEntry, CanonicalRecord, Discrepancy, MatchKey, Outbox, ReconcileState, SourceRecord,
                              StewardDecision, Xref)
from reconciliation.decisions import parse_record_ref
from reconciliation.linking import STEWARD_RULE
from reconciliation.matching.fellegi_sunter import Model
from reconciliation.outbox import SKIPPED_DELETED
from reconciliation.records import RecordKey, RecordSet
from reconciliation.scope import HUB, KEY, KIND, SEED, UNPINNED, key_kinds, record_keys, scope_mask, value_keys

STATE = "reconcile"
FULL_ASKED = "full run asked for"  # in place of the rules' fingerprint: the next run is full
_BATCH = 100_000  # rows of the key frame read at a time
_HUB_FIELDS = ("from", "to", "merged", "new_hub_id")  # audit details naming hub ids (hub.xref_ops)


@dataclass
class Scope:
    """A full run (``keys`` None) or the records and hub ids an incremental run reconsiders."""

    full: bool
    reason: str
    rules: str  # fingerprint of the rules this run decides with
    keys: list[RecordKey] | None = None  # the records to load; None: every record
    hubs: set[str] = field(default_factory=set)  # hub ids to decide again, beyond the records' own
    model: Model | None = None  # the stored match model (incremental runs score with it)
    previous_run: str | None = None  # the run whose discrepancies the unaffected hub ids keep
    decision_id: int = 0  # the highest steward decision and audit entry this run reads
    audit_id: int = 0


def plan(session: Session, ctx: RunContext, full: bool = False) -> Scope:
    state = session.get(ReconcileState, STATE)
    rules = rules_fingerprint(ctx)
    decision_id = session.scalar(select(func.max(StewardDecision.id))) or 0
    audit_id = session.scalar(select(func.max(AuditEntry.id))) or 0
    why = _why_full(ctx, state, rules, full)
    if why is not None or state is None:
        return Scope(True, why or "first run", rules, decision_id=decision_id, audit_id=audit_id)
    hubs, pairs = _decided_since(session, state)
    hubs |= set(state.held.get("hub_ids", [])) | _skipped_back(session)
    chosen = indexed_scope(session, ctx, hubs, pairs)
    if chosen is None:  # the change reaches much of the estate: one pass over it is cheaper
        frame = key_frame(session, ctx)
        chosen = frame.filter(scope_mask(frame, ctx.config.matching, hubs, pairs))
    if state.model is None and _to_score(chosen, ctx):
        return Scope(True, "records to match and no trained model", rules, decision_id=decision_id,
                     audit_id=audit_id)
    keys = list(chosen.select("system", "record_id").iter_rows())
    return Scope(False, "changes", rules, keys, hubs | set(chosen.get_column(HUB).drop_nulls()),
                 _model(state.model, ctx.config.matching.training.monotone_levels), state.run_id, decision_id,
                 audit_id)


def _to_score(chosen: pl.DataFrame, ctx: RunContext) -> bool:
    """Whether the Linker scores pairs in this scope: a record it places again has no key."""
    settings = ctx.config.matching
    no_key = pl.all_horizontal([pl.col(k).is_null() for k in settings.keys])
    return settings.probabilistic and chosen.filter(pl.col(UNPINNED) & no_key).height > 0


def _why_full(ctx: RunContext, state: ReconcileState | None, rules: str, asked: bool) -> str | None:
    if asked:
        return "asked for"
    if state is None:
        return None
    if state.rules == FULL_ASKED:
        return "asked for"
    if state.rules != rules:
        return "rules changed"
    every = timedelta(days=ctx.config.reconcile.full_every_days)
    if _naive(utcnow()) - _naive(state.full_at) >= every:
        return f"last full run {ctx.config.reconcile.full_every_days} days ago or more"
    return None


def _naive(moment: Any) -> Any:
    # SQLite hands back naive datetimes (stored in UTC)
    return moment.replace(tzinfo=None)


def rules_fingerprint(ctx: RunContext) -> str:
    """What the decisions of every hub id depend on beyond its records: a change means a full run."""
    run = run_rules(ctx)
    return content_hash({
        "matching": ctx.config.matching.model_dump(mode="json"),
        "survivorship": ctx.config.survivorship.model_dump(mode="json"),
        "systems": sorted(run.systems), "vouches": {k: sorted(v) for k, v in EVIDENCED_FIELDS.items()},
        "carries": {k: sorted(v) for k, v in run.carries.items()},
        "receives": {k: sorted(v) for k, v in run.receives.items()},
        # match_key holds hashes of this polars version: another one means the table is written again
        "match_keys": f"1 {pl.__version__}"})


def _decided_since(session: Session, state: ReconcileState) -> tuple[set[str], list[tuple[RecordKey, RecordKey]]]:
    """Hub ids a steward touched since the last reconcile (decisions, xref moves), and every
    unexpired match / not-a-match pair (a few: the scope follows them)."""
    hubs: set[str] = set()
    pairs: list[tuple[RecordKey, RecordKey]] = []
    for hub_id, kind, a, b, decision_id, expired in session.execute(select(
            StewardDecision.hub_id, StewardDecision.kind, StewardDecision.record_a, StewardDecision.record_b,
            StewardDecision.id, StewardDecision.expired_at).where(or_(
            StewardDecision.id > state.decision_id,
            and_(StewardDecision.kind.in_(["match", "not_match"]), StewardDecision.expired_at.is_(None))))):
        refs = [parse_record_ref(r or "") for r in (a, b)]
        if decision_id > state.decision_id:
            hubs |= {hub_id} if hub_id else set()
            hubs |= {record for system, record in refs if system == "hub"}
        if kind in ("match", "not_match") and expired is None and all(s != "hub" for s, _ in refs):
            pairs.append((refs[0], refs[1]))
    for subject, detail in session.execute(select(AuditEntry.subject, AuditEntry.detail)
                                           .where(AuditEntry.id > state.audit_id)):
        named = [subject, *[(detail or {}).get(k) for k in _HUB_FIELDS]]
        hubs |= {h for h in named if isinstance(h, str) and h.startswith("H") and h[1:].isdigit()}
    return hubs, pairs


def _skipped_back(session: Session) -> set[str]:
    """Hub ids of corrections skipped while their record was deleted, the record now back: due again."""
    live = and_(SourceRecord.system == Outbox.system, SourceRecord.record_id == Outbox.record_id,
                SourceRecord.deleted_at.is_(None))
    return set(session.scalars(select(Outbox.hub_id).join(SourceRecord, live)
                               .where(Outbox.status == SKIPPED_DELETED).distinct()))


def key_frame(session: Session, ctx: RunContext) -> pl.DataFrame:
    """Every record's change flags, xref hub id and the columns the match rules read: narrow
    columns, read in batches of Core rows."""
    query = _key_query(ctx).order_by(CanonicalRecord.system, CanonicalRecord.record_id)
    return _frame(ctx, session.connection().execute(query.execution_options(yield_per=_BATCH)).partitions())


def _key_query(ctx: RunContext, linked: bool = False) -> Select[Any]:
    """A record's row of the key frame: system, record id, hub id, the flags, the match columns.
    ``linked``: only records with an xref row, read from the xref (SQLite keeps the left join's
    order otherwise, and scans every record for the records of a few hub ids)."""
    x, c, s = Xref, CanonicalRecord, SourceRecord
    query = select(c.system, c.record_id, x.hub_id, _unpinned().label(UNPINNED), _seed().label(SEED),
                   *[cast(c.values[name].as_string(), String).label(name) for name in _columns(ctx)])
    on_xref = and_(x.system == c.system, x.record_id == c.record_id)
    query = query.select_from(x).join(c, on_xref) if linked else query.outerjoin(x, on_xref)
    return query.outerjoin(s, and_(s.system == c.system, s.record_id == c.record_id))


def _moved() -> ColumnElement[bool]:
    return and_(Xref.source_hash.is_not(None), Xref.source_hash != CanonicalRecord.source_hash)


def _unpinned() -> ColumnElement[bool]:
    return or_(Xref.hub_id.is_(None), and_(_moved(), Xref.rule != STEWARD_RULE))


def _seed() -> ColumnElement[bool]:
    return or_(Xref.hub_id.is_(None), Xref.source_hash.is_(None), _moved(),
               func.coalesce(Xref.source_deleted, False) != SourceRecord.deleted_at.is_not(None))


def _columns(ctx: RunContext) -> list[str]:
    return sorted(ctx.config.matching.source_columns())


def _frame(ctx: RunContext, parts: Iterable[Sequence[Any]]) -> pl.DataFrame:
    schema = {"system": pl.String, "record_id": pl.String, HUB: pl.String, UNPINNED: pl.Boolean,
              SEED: pl.Boolean, **{name: pl.String for name in _columns(ctx)}}
    frames = [pl.DataFrame(schema=schema)]
    for rows in parts:  # Core rows: no ORM loading per row
        frames.append(pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row"))
    return pl.concat(frames)


# -- the scope found by index: proportional to the change, not to the estate ---------------

def indexed_scope(session: Session, ctx: RunContext, hubs: set[str],
                  pairs: Sequence[tuple[RecordKey, RecordKey]]) -> pl.DataFrame | None:
    """The rows of the key frame ``scope_mask`` chooses, found without reading every record:
    the change set by one filtered query, then each step of the closure by index (records of
    a hub id by the xref's, records holding a key by ``match_key``'s), each record found
    checked against its current values. None when the scope grows past a tenth of the
    estate (a settling night): then the whole key frame is read, once, instead."""
    settings = ctx.config.matching
    total = session.scalar(select(func.count()).select_from(CanonicalRecord)) or 0
    found = _Found(session, ctx, max(_MIN_LIMIT, int(total * _SCOPE_SHARE)))
    base = _key_query(ctx)
    # no more seeds than the limit are read: a settling night stops the scan early
    if not found.select(found.read(base.where(_seed()).limit(found.limit + 1))):
        return None
    seeds = _frame(ctx, [list(found.rows.values())])
    no_key = pl.all_horizontal([pl.col(k).is_null() for k in settings.keys])
    opened = seeds.filter(pl.col(UNPINNED) & no_key)
    if settings.probabilistic and opened.height:  # every record of an opened block: sizes stay exact
        wanted = record_keys(opened, settings).filter(pl.col(KIND) < len(settings.blocking))
        if not _select_holding(found, base, ctx, wanted.select(KIND, KEY).unique()):
            return None
    done: dict[str, set[str]] = {column: set() for column in [HUB, *settings.keys]}
    values = found.values(done)
    values[HUB] |= hubs  # the records of a steward's or a held hub id are seeds too
    paired = [p for p in pairs if p[0] != p[1]]
    while True:
        joined = {k for a, b in paired if a in found.selected or b in found.selected for k in (a, b)}
        joined = found.known(found.read_keys(base, joined - found.selected))
        if not any(values.values()) and not joined:
            break
        if not _grow(found, base, ctx, values, joined):
            return None
        for column, new in values.items():
            done[column] |= new
        values = found.values(done)
    chosen = [found.rows[k] for k in sorted(found.selected)]
    return _frame(ctx, [chosen])


# A scope past this share of the records (and past _MIN_LIMIT) is found by reading every record:
# a settling night's change set is most of the estate, and its lookups cost more than one pass.
_MIN_LIMIT = 1_000
_SCOPE_SHARE = 0.1


class _Found:
    """The key-frame rows read so far (by record) and those chosen for the scope."""

    def __init__(self, session: Session, ctx: RunContext, limit: int) -> None:
        self.session, self.limit = session, limit
        self.rows: dict[RecordKey, tuple[Any, ...]] = {}
        self.selected: set[RecordKey] = set()
        self.position = {name: i for i, name in enumerate(["system", "record_id", HUB, UNPINNED, SEED,
                                                            *_columns(ctx)])}

    def read(self, query: Select[Any]) -> list[RecordKey]:
        keys = []
        for part in self.session.connection().execute(query).partitions(_BATCH):
            for row in part:
                key = (row[0], row[1])
                self.rows.setdefault(key, tuple(row))
                keys.append(key)
        return keys

    def read_keys(self, query: Select[Any], keys: Iterable[RecordKey]) -> set[RecordKey]:
        """``keys``, their rows read unless read already."""
        keys = set(keys)
        wanted = sorted(keys - self.rows.keys())
        if wanted:
            for row in scoped_rows(self.session, query, wanted, CanonicalRecord):
                self.rows.setdefault((row[0], row[1]), tuple(row))
        return keys

    def known(self, keys: Iterable[RecordKey]) -> set[RecordKey]:
        """Of ``keys``, the records there are (a decision may name one that is not)."""
        return {k for k in keys if k in self.rows}

    def value(self, key: RecordKey, column: str) -> Any:
        return self.rows[key][self.position[column]]

    def values(self, done: dict[str, set[str]]) -> dict[str, set[str]]:
        """Per column, the values the chosen records hold that are not in ``done``."""
        return {column: {v for k in self.selected if (v := self.value(k, column)) is not None} - seen
                for column, seen in done.items()}

    def select(self, keys: Iterable[RecordKey]) -> bool:
        """Choose ``keys``; False when the scope is past the limit."""
        self.selected.update(keys)
        return len(self.selected) <= self.limit


def _select_holding(found: _Found, base: Select[Any], ctx: RunContext, wanted: pl.DataFrame) -> bool:
    """Choose every record holding one of the ``wanted`` block keys (kind, key) now: the
    candidates ``match_key`` names, their keys computed again from their current values."""
    fresh = sorted(set(_candidates(found, base, wanted)) - found.selected)
    if not fresh:
        return True
    holding = (record_keys(_frame(ctx, [[found.rows[k] for k in fresh]]), ctx.config.matching)
               .join(wanted, on=[KIND, KEY], how="semi").select("system", "record_id").unique())
    return found.select(holding.iter_rows())


def _grow(found: _Found, base: Select[Any], ctx: RunContext, values: dict[str, set[str]],
          joined: set[RecordKey]) -> bool:
    """One step of the closure: the records of the new hub ids, those holding a new key
    value (as they hold it now), both records of a steward's pair once either is in."""
    settings = ctx.config.matching
    by_hub = _key_query(ctx, linked=True)
    for chunk in in_chunks(sorted(values[HUB])):
        if not found.select(found.read(by_hub.where(Xref.hub_id.in_(chunk)))):
            return False
    kinds = key_kinds(settings)
    for column in settings.keys:
        if not values[column]:
            continue
        keys = value_keys(settings, column, values[column])
        wanted = pl.DataFrame({KIND: [kinds.index(column)] * len(keys), KEY: keys},
                              schema={KIND: pl.Int32, KEY: pl.Int64})
        candidates = _candidates(found, base, wanted)
        if not found.select(k for k in candidates if found.value(k, column) in values[column]):
            return False
    return found.select(joined)


def _candidates(found: _Found, base: Select[Any], wanted: pl.DataFrame) -> list[RecordKey]:
    """The records ``match_key`` names for the ``wanted`` (kind, key), their rows read."""
    m, candidates = MatchKey, []
    by_key = base.join(m, and_(m.system == CanonicalRecord.system, m.record_id == CanonicalRecord.record_id))
    for (kind,), keys in wanted.group_by(KIND):
        for chunk in in_chunks(sorted(keys.get_column(KEY).to_list())):
            candidates += found.read(by_key.where(m.kind == kind, m.key.in_(chunk)))
    return candidates


def save_keys(session: Session, ctx: RunContext, scope: Scope, records: RecordSet, frame: pl.DataFrame) -> int:
    """``match_key`` as the next run's scope reads it, in the reconcile's transaction: a full run
    writes every record's keys anew; an incremental one adds those of the records whose content
    the xref has not seen (their xref row takes it in this run). Returns the rows written."""
    settings, table = ctx.config.matching, MatchKey.__table__
    if scope.full:
        session.execute(delete(table))
        rows = record_keys(frame, settings).sort(KIND, KEY)
        return bulk_insert(session, table, rows.iter_rows(named=True))
    fresh = [key for key, source_hash in records.hashes.items()
             if (row := records.xref.get(key)) is None or row.source_hash != source_hash]
    if not fresh:
        return 0
    chosen = pl.DataFrame(fresh, schema={"system": pl.String, "record_id": pl.String}, orient="row")
    rows = record_keys(frame.join(chosen, on=["system", "record_id"], how="semi"), settings).sort(KIND, KEY)
    return _add_keys(session, table, rows.to_dicts())


def _add_keys(session: Session, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows``, those already there left as they are (a record keeps most of its keys
    when it changes). PostgreSQL: copied into a temporary table, then one INSERT … SELECT …
    ON CONFLICT DO NOTHING (an executemany INSERT renders its rows in Python: 2.5 s of CPU for
    90k rows, COPY 0.1 s)."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        connection = session.connection()
        staged = Table("match_key_new", MetaData(), *[Column(c.name, c.type) for c in table.columns],
                       prefixes=["TEMPORARY"])
        connection.exec_driver_sql("DROP TABLE IF EXISTS match_key_new")  # one a failed run left
        staged.create(connection)
        bulk_insert(connection, staged, rows)
        names = [c.name for c in table.columns]
        connection.execute(postgresql_insert(table).from_select(names, select(*staged.columns))
                           .on_conflict_do_nothing())
        staged.drop(connection)
        return len(rows)
    if dialect == "sqlite":
        for start in range(0, len(rows), _WRITE_CHUNK):
            session.execute(sqlite_insert(table).on_conflict_do_nothing(), rows[start:start + _WRITE_CHUNK])
        return len(rows)
    session.execute(delete(table).where(*[table.c[c] == bindparam(f"k_{c}") for c in _KEY_COLUMNS]),
                    [{f"k_{c}": r[c] for c in _KEY_COLUMNS} for r in rows])
    return bulk_insert(session, table, rows)


_KEY_COLUMNS = ("kind", "key", "system", "record_id")
_WRITE_CHUNK = 10_000


def _model(stored: dict[str, Any] | None, monotone: bool = False) -> Model | None:
    """The stored model; ``monotone`` from the rules, which are the ones it was trained under."""
    return None if stored is None else Model(m=stored["m"], u=stored["u"], prior=stored["prior"], monotone=monotone)


def save_state(session: Session, scope: Scope, run_id: str, model: Model | None, held: set[str]) -> None:
    """In the reconcile's own transaction: what the next run is incremental against."""
    state = session.get(ReconcileState, STATE)
    now = utcnow()
    if state is None:
        state = ReconcileState(name=STATE, full_at=now, model=None)
        session.add(state)
    if scope.full:
        state.full_at = now
    if model is not None and scope.full:
        state.model = {"m": model.m, "u": model.u, "prior": model.prior}
    state.run_id, state.rules, state.held = run_id, scope.rules, {"hub_ids": sorted(held)}
    state.decision_id, state.audit_id = scope.decision_id, scope.audit_id


def request_full(session: Session) -> None:
    """The next reconcile is a full one (``custhub run nightly --full``)."""
    state = session.get(ReconcileState, STATE)
    if state is not None:
        state.rules = FULL_ASKED



def keep_discrepancies(session: Session, previous_run: str | None, run_id: str, decided: set[str]) -> int:
    """The previous run's discrepancies of every hub id this run did not decide again, as this
    run's (they are what it would have found); returns how many. One statement in the store,
    against a temporary table of the hub ids decided."""
    if previous_run is None:
        return 0
    with temporary_keys(session, "reconcile_scope_hub", {"hub_id": 32},
                        ({"hub_id": h} for h in sorted(decided))) as scope:
        d = Discrepancy.__table__
        columns = [c.name for c in d.columns if c.name not in ("id", "run_id")]
        kept = (select(literal(run_id, String(64)), *[d.c[c] for c in columns])
                .where(d.c.run_id == previous_run, ~exists().where(scope.c.hub_id == d.c.hub_id)))
        return session.connection().execute(insert(d).from_select(["run_id", *columns], kept)).rowcount or 0
