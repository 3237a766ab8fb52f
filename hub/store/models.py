"""The hub store: everything the hub knows, keyed by run. SQLite by default, PostgreSQL in production.

The schema is owned by Alembic (hub/store/migrations); these models are its source.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy import false as sa_false
from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, datetime: DateTime(timezone=True)}


class Run(Base):
    """One execution of a job; an Airflow run maps to exactly one (external_id)."""

    __tablename__ = "run"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(250), unique=True)
    status: Mapped[str] = mapped_column(String(24))  # running, succeeded, failed
    dry_run: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    interval_start: Mapped[datetime | None]
    interval_end: Mapped[datetime | None]
    message: Mapped[str | None] = mapped_column(Text)


class RunMetric(Base):
    """A figure a step measured in a run; re-running the step overwrites, never adds."""

    __tablename__ = "run_metric"
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id"), primary_key=True)
    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class Cursor(Base):
    __tablename__ = "cursor"
    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict | None]
    run_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class SourceRecord(Base):
    """The latest raw payload of each record of each system, as staged before mapping."""

    __tablename__ = "source_record"
    # run_id indexed: reconcile counts what this run staged without scanning every record
    __table_args__ = (UniqueConstraint("system", "record_id"), Index("ix_source_record_run", "run_id"))
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict]
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(64))
    # The record's version at its source as orderable text (hub.pipeline.source_versions):
    # an older one is never staged over it. None: not known (staged before 0008).
    source_version: Mapped[str | None] = mapped_column(String(80))
    location: Mapped[str | None] = mapped_column(String(500))
    fetched_at: Mapped[datetime]
    run_id: Mapped[str] = mapped_column(String(64))  # the run that staged this content
    # set when a full key scan (or a complete export file) no longer has the record; the
    # golden record stays, a "deleted_at_source" ReviewItem asks a steward what to do
    deleted_at: Mapped[datetime | None]


class FileLedger(Base):
    """Files already applied, by content hash: a re-delivered file is not applied twice."""

    __tablename__ = "file_ledger"
    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_name: Mapped[str] = mapped_column(String(500))
    run_id: Mapped[str] = mapped_column(String(64))
    processed_at: Mapped[datetime]


class CanonicalRecord(Base):
    """A source record mapped to the canonical Customer."""

    __tablename__ = "canonical_record"
    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    values: Mapped[dict]
    source_hash: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(64))
    # The run in which the record's registry keys (company id, VAT id, country) last changed:
    # the registries' queue asks again for a key a record newly holds, not for every record the
    # run re-mapped (a correction the hub sent comes back as a change). None: as run_id.
    keys_run_id: Mapped[str | None] = mapped_column(String(64))


class Quarantine(Base):
    """A record that could not be read or mapped: its raw payload and the reason."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("system", "record_key", "content_hash"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(64))
    record_key: Mapped[str] = mapped_column(String(600))  # record id, or file:line for unreadable rows
    content_hash: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(16))  # read, map
    reason: Mapped[str] = mapped_column(Text)
    raw_payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class Xref(Base):
    """Which hub id each system's record belongs to."""

    __tablename__ = "xref"
    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hub_id: Mapped[str] = mapped_column(String(32), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime]
    # The record's content (CanonicalRecord.source_hash) when last reconciled: a record whose
    # content moved on since is re-matched, and its changes since count for conflicts.
    source_hash: Mapped[str | None] = mapped_column(String(64))
    # Whether the record was deleted at its source when last reconciled: a record deleted or
    # back since is in the next run's change set (docs/adr/0005-incremental-reconcile.md).
    source_deleted: Mapped[bool | None]


class GoldenRecord(Base):
    """Every version of every golden record; the highest version is the current one."""

    __tablename__ = "golden_record"
    # The current versions, by hub id: a partial index, written as the store's queries test the
    # flag (``is_current.is_(True)``). An index on the flag alone made SQLite, which keeps no
    # statistics, scan every current row for each IN list of hub ids (quadratic in the scope).
    __table_args__ = (Index("ix_golden_record_current", "hub_id", sqlite_where=text("is_current IS 1"),
                            postgresql_where=text("is_current IS true")),)
    hub_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    values: Mapped[dict]
    lineage: Mapped[dict]
    is_current: Mapped[bool] = mapped_column(default=True)
    run_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Discrepancy(Base):
    """A field where a system differs from the golden record, as seen in a run."""

    __tablename__ = "discrepancy"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    hub_id: Mapped[str] = mapped_column(String(32))
    system: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(128))
    field: Mapped[str] = mapped_column(String(64))
    system_value: Mapped[str | None] = mapped_column(Text)
    golden_value: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(64))
    corrected: Mapped[bool] = mapped_column(default=False)


class Outbox(Base):
    """Corrections to send; the idempotency key makes a repeated run send nothing twice.

    A row is claimed (``sending``, ``attempt_id``, ``claimed_at``) before it leaves, so a crash
    between the target's write and the mark leaves a row that says "maybe sent": the next
    publish settles it by asking the target (docs/adr/0004-exactly-once.md)."""

    __tablename__ = "outbox"
    # The report reads a record's corrections by (system, record id), a batch at a time.
    __table_args__ = (Index("ix_outbox_system_record", "system", "record_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    system: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(128))
    hub_id: Mapped[str] = mapped_column(String(32))
    values: Mapped[dict]
    expected_version: Mapped[str | None] = mapped_column(String(64))
    # pending, sending (claimed: may have reached the target), sent, refused, skipped_deleted
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    attempt_id: Mapped[str | None] = mapped_column(String(32))  # the claim that sends it
    claimed_at: Mapped[datetime | None]


class RegistryCheck(Base):
    """Evidence of a registry look-up (VIES, ARES, ISIR): what was asked, when, and the answer."""

    __tablename__ = "registry_check"
    __table_args__ = (UniqueConstraint("registry_name", "key", "checked_on"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    registry_name: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    checked_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # valid, invalid, unknown, found, not_found
    request_identifier: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict]
    run_id: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime]


class ReviewItem(Base):
    """Something a rule could not decide and a steward must: a conflict, a match candidate,
    a record deleted at its source. Resolving it records a StewardDecision."""

    __tablename__ = "review_item"
    __table_args__ = (UniqueConstraint("fingerprint"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # conflict, match_candidate, deleted_at_source
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open, resolved, dismissed
    fingerprint: Mapped[str] = mapped_column(String(64))  # the same question is asked once
    hub_id: Mapped[str | None] = mapped_column(String(32), index=True)
    system: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(String(128))
    other_system: Mapped[str | None] = mapped_column(String(64))
    other_record_id: Mapped[str | None] = mapped_column(String(128))
    field: Mapped[str | None] = mapped_column(String(64))
    candidates: Mapped[dict]  # e.g. {"crm": "value A", "accounting": "value B"} or match scores
    reason: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None]


class StewardDecision(Base):
    """A person's decision, reused by later runs until one of the records changes materially."""

    __tablename__ = "steward_decision"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # choose_value, match, not_match, split, merge
    hub_id: Mapped[str | None] = mapped_column(String(32), index=True)
    field: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[dict | None]  # {"value": ...} for choose_value
    record_a: Mapped[str | None] = mapped_column(String(200))  # "system:record_id"
    record_b: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # content of the records decided on
    # choose_value: each record's value of the field when decided ({"system:record_id": value}),
    # so that a record converging on the chosen value (our own correction) keeps the decision
    evidence: Mapped[dict | None]
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_item.id"))
    decided_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    expired_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what, when and why: xref changes, approvals, steward decisions."""

    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))  # link, unlink, merge, split, approve, decide
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict]
    reason: Mapped[str | None] = mapped_column(Text)


class AuditHubId(Base):
    """Each hub id an xref operation named (its subject, where it moved records from and to):
    a golden record's page finds its own operations by index, however long the trail."""

    __tablename__ = "audit_hub_id"
    audit_id: Mapped[int] = mapped_column(ForeignKey("audit_entry.id"), primary_key=True)
    hub_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class PreviewPage(Base):
    """What a dry run read, kept aside instead of staged: its map and reconcile steps replay it
    inside a transaction they roll back (hub.pipeline.preview). Real runs never read it."""

    __tablename__ = "preview_page"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    system: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict]  # {"page": {...}} a page as read, or {"present": [...]} keys for deletions


class ReconcileState(Base):
    """What the last applied reconcile left for the next one to be incremental against
    (docs/adr/0005-incremental-reconcile.md): one row, written in the reconcile's transaction."""

    __tablename__ = "reconcile_state"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # "reconcile"
    run_id: Mapped[str] = mapped_column(String(64))  # its discrepancies hold every hub id's
    full_at: Mapped[datetime]  # the last full run
    rules: Mapped[str] = mapped_column(String(64))  # fingerprint of the matching and survivorship rules
    decision_id: Mapped[int] = mapped_column(Integer)  # the highest steward decision it read
    audit_id: Mapped[int] = mapped_column(Integer)  # the highest audit entry it read
    model: Mapped[dict | None]  # the match model the last full run trained (m, u, prior)
    held: Mapped[dict]  # {"hub_ids": [...]}: hub ids with a field held by a conflict


class MatchKey(Base):
    """A record's keys as the scope of an incremental reconcile looks them up
    (hub.pipeline.scope): per blocking rule its block key, per deterministic key its value, both
    hashed (reconciliation.scope.record_keys). Written by reconcile for the records whose content
    it sees first, rewritten whole by a full run; a lookup checks the records' current values, so
    a key a record no longer holds only brings it to be looked at. Keyed by what is looked up:
    SQLite keeps it as one B-tree (no rowid), PostgreSQL as its primary key index."""

    __tablename__ = "match_key"
    __table_args__ = {"sqlite_with_rowid": False}
    kind: Mapped[int] = mapped_column(Integer, primary_key=True)  # reconciliation.scope.key_kinds
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128), primary_key=True)


class RunLease(Base):
    """Who may write to the store now: one row per store, held by a run while it works.

    The owner is the run id, not a process: an Airflow run's tasks, on any worker, join the
    lease of their hub run; a lease past ``expires_at`` belongs to a dead run and may be taken.
    ``process_bound``: the holder's process is the whole run (the CLI), so once that process is
    gone from its host the lease is dead at once; an Airflow run's lease outlives each task.
    """

    __tablename__ = "run_lease"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # "store": the one writer
    run_id: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    process_bound: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
