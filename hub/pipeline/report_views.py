"""The report's derived tables: the three-way discrepancy view, agreement per field, and the trend.

All of them are read from what the run stored (Discrepancy, Outbox, Xref, RunMetric), so a
report rebuilt later for the same run shows the same figures.

Counts are GROUP BY queries. The differences are read as columns (SQLAlchemy Core into
polars, no ORM object per row) and put side by side by polars: every one for the files, or,
for a summary, only those of the page's top companies per field (a window query picks them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

import polars as pl
from sqlalchemy import Connection, Label, Select, case, distinct, func, select, true
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.store.db import in_chunks
from hub.store.models import Discrepancy, GoldenRecord, Outbox, Run, RunMetric, Xref
from reconciliation.report import TOP_PER_FIELD, FieldAgreement, TrendPoint

TREND_RUNS = 12
READ_BATCH = 50_000  # rows fetched from the driver at a time


def carried_fields(config: HubConfig, systems: Sequence[str]) -> dict[str, set[str]]:
    return {s: set(config.spec(s).fields) for s in systems}


def field_counts(session: Session, run_id: str) -> dict[str, int]:
    """Company fields that differ in the run, per field: the rows of the discrepancies table."""
    return dict(session.execute(select(Discrepancy.field, func.count(distinct(Discrepancy.hub_id)))
                                .where(Discrepancy.run_id == run_id).group_by(Discrepancy.field)).tuples().all())


def top_hubs(session: Session, run_id: str, top: int = TOP_PER_FIELD) -> list[str]:
    """The hubs of the page's differences: per field, the ``top`` companies where the most
    systems differ (then by hub id), ranked by the database (a window query)."""
    grouped = select(Discrepancy.hub_id, func.row_number().over(
        partition_by=Discrepancy.field, order_by=(func.count().desc(), Discrepancy.hub_id)).label("rank")
    ).where(Discrepancy.run_id == run_id).group_by(Discrepancy.hub_id, Discrepancy.field).subquery()
    return sorted(set(session.scalars(select(grouped.c.hub_id).where(grouped.c.rank <= top))))


def top_rows(frame: pl.DataFrame, top: int = TOP_PER_FIELD) -> pl.DataFrame:
    """Per field, the ``top`` rows where the most records differ (then by hub id); fields with
    the most differing companies first."""
    return (frame.sort(["field", "differing", "hub_id"], descending=[False, True, False])
            .with_columns(rank=pl.int_range(pl.len()).over("field"), count=pl.len().over("field"))
            .filter(pl.col("rank") < top).sort(["count", "field", "rank"], descending=[True, False, False])
            .drop("rank", "count"))


def diff_frame(conn: Connection, config: HubConfig, run_id: str, dry_run: bool,
               hubs: Sequence[str] | None = None) -> pl.DataFrame:
    """One row per company and field that differs, every system's value, state and correction
    side by side (reconciliation.report.diff_frame_of's columns), in hub id and field order.

    Read as columns: the run's discrepancies (each with its correction's outcome), the
    systems holding a record of each company and its name come from three SQL Core queries
    into polars, and polars puts them side by side. ``hubs`` limits it to these companies
    (the page's top)."""
    systems = config.enabled_systems()
    read = _reader(conn, run_id, hubs)
    columns = [Discrepancy.__table__.c[c] for c in _LONG if c != "status"]
    found = read(lambda scope: select(*columns, _outcome(conn, run_id)).where(
        Discrepancy.run_id == run_id, Discrepancy.hub_id.in_(scope)), _LONG)
    found = found.sort(["hub_id", "field", "system", "record_id"])
    status = pl.col("status")
    found = found.with_columns(correction=(
        pl.when(~pl.col("corrected")).then(pl.lit("reported only"))  # not configured to receive it
        .when(status.is_null()).then(pl.lit("sent earlier"))  # the same correction went out before
        .when(status == "pending").then(pl.lit("would send" if dry_run else "pending"))
        .otherwise(status)))
    held = read(lambda scope: select(Xref.hub_id, *(func.max(case((Xref.system == s, 1), else_=0)).label(s)
                                                    for s in systems))
                .where(Xref.hub_id.in_(scope)).group_by(Xref.hub_id), {"hub_id": pl.String} | {
                    s: pl.Int64 for s in systems})
    name = GoldenRecord.values["legal_name"].as_string()
    names = read(lambda scope: select(GoldenRecord.hub_id, name.label("company")).where(
        GoldenRecord.hub_id.in_(scope), GoldenRecord.is_current.is_(True)), _NAMES)
    return _side_by_side(found, held, names, systems, carried_fields(config, systems))


_LONG = {"hub_id": pl.String, "field": pl.String, "system": pl.String, "record_id": pl.String,
         "system_value": pl.String, "golden_value": pl.String, "source": pl.String, "rule": pl.String,
         "corrected": pl.Boolean, "status": pl.String}
_NAMES = {"hub_id": pl.String, "company": pl.String}


def _reader(conn: Connection, run_id: str, hubs: Sequence[str] | None):  # type: ignore[no-untyped-def]
    """``read(query, schema)``: a query over a scope of hub ids (the run's, or ``hubs`` an IN
    list at a time) as one polars frame."""
    def read(query: Callable[[object], Select], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
        if hubs is None:
            scopes: list[object] = [select(Discrepancy.hub_id).where(Discrepancy.run_id == run_id)]
        else:
            scopes = list(in_chunks(hubs))
        frames = [read_frame(conn, query(scope), schema) for scope in scopes]
        return pl.concat(frames) if frames else pl.DataFrame(schema=dict(schema))
    return read


def read_frame(conn: Connection, query: Select, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """A Core query's rows as a polars frame of ``schema``. SQLAlchemy executes the query;
    polars takes the driver's rows from its cursor, so no SQLAlchemy Row is made per row
    (a third of the read at a million rows)."""
    # SQLite returns booleans as 0/1: read them as integers, then as the booleans they are.
    read_as = {name: pl.Int64 if dtype == pl.Boolean else dtype for name, dtype in schema.items()}
    result = conn.execute(query)
    frames = []
    try:  # a batch of rows at a time: a million rows as Python tuples would be a gigabyte
        while rows := result.cursor.fetchmany(READ_BATCH):
            frames.append(pl.DataFrame(rows, schema=read_as, orient="row", strict=False))
    finally:
        result.close()
    return pl.concat(frames).cast(dict(schema)) if frames else pl.DataFrame(schema=dict(schema))


def _outcome(conn: Connection, run_id: str) -> Label:
    """A corrected discrepancy's outcome: the status of the outbox row of its record that sets
    its field, this run's first, then the newest earlier one. The database lists a row's fields
    (its JSON object's keys), so a value, even null, is never read."""
    if conn.dialect.name == "postgresql":
        keys = func.json_object_keys(Outbox.values).table_valued("key").render_derived()
    else:  # SQLite
        keys = func.json_each(Outbox.values).table_valued("key")
    status = (select(Outbox.status).select_from(Outbox).join(keys, true())
              .where(Outbox.system == Discrepancy.system, Outbox.record_id == Discrepancy.record_id,
                     keys.c.key == Discrepancy.field)
              .order_by(Outbox.run_id != run_id, Outbox.id.desc()).limit(1)
              .correlate(Discrepancy).scalar_subquery())
    return case((Discrepancy.corrected.is_(True), status)).label("status")


def _side_by_side(found: pl.DataFrame, held: pl.DataFrame, names: pl.DataFrame, systems: Sequence[str],
                  carries: Mapping[str, set[str]]) -> pl.DataFrame:
    """The long discrepancies (sorted) as one row per company and field, a value, state and
    correction per system: what differs, else the golden value where the system holds it."""
    key = ["hub_id", "field"]
    empty = pl.col("system_value").is_null() | (pl.col("system_value") == "")
    mine = found.group_by([*key, "system"], maintain_order=True).agg(
        value=pl.when(empty).then(pl.lit("(empty)")).otherwise(pl.col("system_value")).unique().sort()
        .str.join(" | "),
        correction=pl.col("correction").first())
    wide = found.group_by(key, maintain_order=True).agg(
        pl.col("golden_value", "source", "rule").first(), differing=pl.len())
    for s in systems:
        wide = wide.join(mine.filter(pl.col("system") == s).select(
            *key, pl.col("value").alias(f"{s}#value"), pl.col("correction").alias(f"{s}#correction")),
            on=key, how="left", maintain_order="left")
    wide = (wide.join(held, on="hub_id", how="left", maintain_order="left")
            .join(names.unique("hub_id", keep="first"), on="hub_id", how="left", maintain_order="left"))
    columns: list[pl.Expr] = [pl.col("hub_id"), pl.col("company").fill_null(""), pl.col("field")]
    for s in systems:
        differs = pl.col(f"{s}#value").is_not_null()
        state = (pl.when(differs).then(pl.lit("differs"))
                 .when(pl.col(s).fill_null(0) == 0).then(pl.lit("no_record"))
                 .when(~pl.col("field").is_in(sorted(carries[s]))).then(pl.lit("not_held"))
                 .when(pl.col("source") == s).then(pl.lit("source")).otherwise(pl.lit("agrees")))
        columns += [
            pl.when(differs).then(pl.col(f"{s}#value")).when(state.is_in(["no_record", "not_held"]))
            .then(None).otherwise(pl.col("golden_value")).alias(f"{s}_value"),
            state.alias(f"{s}_state"),
            pl.when(differs).then(pl.col(f"{s}#correction")).otherwise(pl.lit("")).alias(f"{s}_correction")]
    columns += [pl.col("golden_value", "source", "rule", "differing")]
    return wide.select(columns)


def field_agreement(session: Session, config: HubConfig, records: Mapping[str, int],
                    run_id: str, previous_run: str | None) -> list[FieldAgreement]:
    systems = config.enabled_systems()
    now = _differing(session, run_id)
    before_records, before_differing = _previous(session, previous_run)
    out = []
    for system, fields in carried_fields(config, systems).items():
        for field in sorted(fields):
            previous = None
            if before_records.get(system):
                previous = 1 - before_differing.get((system, field), 0) / before_records[system]
            out.append(FieldAgreement(system, field, records.get(system, 0),
                                      now.get((system, field), 0), previous))
    return out


def _differing(session: Session, run_id: str) -> dict[tuple[str, str], int]:
    """Records differing per system and field in a run."""
    counts = session.execute(
        select(Discrepancy.system, Discrepancy.field, func.count(distinct(Discrepancy.record_id)))
        .where(Discrepancy.run_id == run_id).group_by(Discrepancy.system, Discrepancy.field)).all()
    return {(s, f): n for s, f, n in counts}


def _previous(session: Session, run_id: str | None) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Records per system and differing records per system and field, as an earlier run saw them."""
    if run_id is None:
        return {}, {}
    records = {m.system: m.value for m in session.scalars(select(RunMetric).where(
        RunMetric.run_id == run_id, RunMetric.metric == "records"))}
    return records, _differing(session, run_id)


def recent_runs(session: Session, run: Run, limit: int = TREND_RUNS) -> list[Run]:
    """The last finished runs of the same kind up to this one, oldest first."""
    rows = session.scalars(select(Run).where(Run.kind == run.kind, Run.started_at <= run.started_at,
                                             Run.dry_run.is_(False) | (Run.id == run.id))
                           .order_by(Run.started_at.desc()).limit(limit)).all()
    return list(reversed(rows))


def trend(session: Session, runs: Sequence[Run], systems: Sequence[str]) -> list[TrendPoint]:
    ids = [r.id for r in runs]
    figures: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for m in session.scalars(select(RunMetric).where(RunMetric.run_id.in_(ids))):
        figures[m.run_id][(m.system, m.metric)] = m.value
    points = []
    for run in runs:
        got = figures[run.id]
        agreement = {s: (1 - got.get((s, "records_differing"), 0) / got[(s, "records")])
                     if got.get((s, "records")) else None for s in systems}
        points.append(TrendPoint(run.id, f"{run.started_at:%Y-%m-%d %H:%M}", agreement,
                                 sum(got.get((s, "corrected"), 0) for s in systems),
                                 sum(got.get((s, "in_conflict"), 0) for s in systems),
                                 sum(got.get((s, "quarantined"), 0) for s in systems)))
    return points
