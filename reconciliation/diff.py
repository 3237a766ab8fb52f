"""How each system's record differs from the golden record, and what to correct.

``differing`` works column-wise over every entity at once (a members frame, see
``reconciliation.survivorship``, against golden columns as ``golden_frame`` gives them);
``differences`` is the same for Python records, as the hub store holds them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from reconciliation.comparison import COUNTRY, column_key
from reconciliation.formulas import refused_formula
from reconciliation.members import members_frame
from reconciliation.records import Difference, Golden, MemberRecord, RecordKey

DIFFERING_SCHEMA = {"row": pl.UInt32, "field": pl.String, "golden": pl.String, "correct": pl.Boolean}


def differing(members: pl.DataFrame, golden: pl.DataFrame, fields: Sequence[str],
              receives: Mapping[str, Collection[str]], carries: Mapping[str, Collection[str]],
              held: pl.DataFrame | None = None, compare: Mapping[str, str] | None = None) -> pl.DataFrame:
    """(row, entity, field, golden, correct): every field a member's system carries where it holds
    something other than the golden value (``golden`` as ``golden_frame`` gives it).

    Values are compared by each field's comparison key (``reconciliation.comparison``; a
    postal code in its record's country), so a difference only in spelling is none. A golden
    value that is empty never blanks a system's value; the record the golden value came from
    is not told about it; a field the system carries but does not receive, one held in
    ``held`` (entity, field: a conflict waits for a steward), or a golden value a spreadsheet
    would run as a formula (``reconciliation.formulas``) is reported, not corrected.
    """
    # Each member's golden record, as a position: every field is then gathered, never joined.
    position = (members.select("entity").join(golden.select("entity").with_row_index("_golden"), on="entity",
                                              how="left", maintain_order="left").get_column("_golden"))
    base = members.select("row", "entity", "system").with_columns(position, *_countries(members, golden, position))
    parts = []
    for field in fields:
        carriers = [s for s, carried in carries.items() if field in carried]
        receivers = [s for s, wanted in receives.items() if field in wanted]
        if not carriers or field not in golden.columns:
            continue
        value = golden.get_column(field).gather(position).alias("golden")
        origin = golden.get_column(f"{field}__row").gather(position)
        own = members.get_column(field).alias("_value")
        differs = (pl.col("system").is_in(carriers) & value.is_not_null() & own.ne_missing(value)
                   & origin.ne_missing(members.get_column("row")))
        # The raw text first (cheap, and most values agree), then the key of what still differs.
        # Lazily, so that each key's steps are computed once (common subexpressions).
        found = (base.with_columns(value, own).filter(differs).lazy()
                 .with_columns(column_key(field, pl.col("_value"), pl.col("_own_country"), compare).alias("_own"),
                               column_key(field, pl.col("golden"), pl.col("_golden_country"), compare).alias("_key"))
                 .filter(pl.col("_own").ne_missing(pl.col("_key")))
                 .select("row", "entity", pl.lit(field).alias("field"), pl.col("golden").cast(pl.String),
                         (pl.col("system").is_in(receivers) & ~refused_formula(pl.col("golden"))).alias("correct"))
                 .collect())
        if held is not None:
            stop = held.filter(pl.col("field") == field).select("entity", pl.lit(True).alias("held"))
            found = (found.join(stop, on="entity", how="left")
                     .with_columns(pl.col("correct") & pl.col("held").is_null()).drop("held"))
        parts.append(found)
    if not parts:
        return pl.DataFrame(schema={"row": pl.UInt32, "entity": members.schema["entity"], **DIFFERING_SCHEMA})
    return pl.concat(parts).cast(DIFFERING_SCHEMA)  # type: ignore[arg-type]


def _countries(members: pl.DataFrame, golden: pl.DataFrame, position: pl.Series) -> list[pl.Series]:
    """Each member's country and its golden record's: how their postal codes may be spelled.
    A record that holds no country is read in its golden record's."""
    theirs = (golden.get_column(COUNTRY).cast(pl.String).gather(position) if COUNTRY in golden.columns
              else pl.Series(values=[None] * len(position), dtype=pl.String))
    own = members.get_column(COUNTRY).cast(pl.String) if COUNTRY in members.columns else theirs
    return [own.fill_null(theirs).alias("_own_country"), theirs.alias("_golden_country")]


def golden_columns(goldens: Mapping[str, Golden], fields: Sequence[str],
                   rows: Mapping[RecordKey, int]) -> pl.DataFrame:
    """Golden records as the columns ``differing`` reads: each field's value and the member row
    it came from (``rows``: record -> row; null for a record not among the members)."""
    columns: dict[str, pl.Series] = {"entity": pl.Series(list(goldens), dtype=pl.String)}
    for field in fields:  # values as ``text`` gives them, written out (a call per value costs)
        columns[field] = pl.Series([None if (v := g.values.get(field)) is None else str(v)
                                    for g in goldens.values()], dtype=pl.String)
        columns[f"{field}__row"] = pl.Series([None if (o := g.lineage.get(field)) is None
                                              else rows.get((o.get("source"), o.get("record_id")))
                                              for g in goldens.values()], dtype=pl.UInt32)
    return pl.DataFrame(columns)


def differences_many(entities: Mapping[str, tuple[Golden, Sequence[MemberRecord]]],
                     receives: Mapping[str, Collection[str]], carries: Mapping[str, Collection[str]],
                     fields: Sequence[str], held: Mapping[str, Collection[str]] | None = None,
                     compare: Mapping[str, str] | None = None) -> dict[str, list[Difference]]:
    """Every entity's differences, from one column-wise pass; each list ordered by record, then field."""
    frame, records = members_frame({e: members for e, (_, members) in entities.items()}, fields)
    goldens = {e: golden for e, (golden, _) in entities.items()}
    return differences_members(frame, records, goldens, receives, carries, fields, held, compare)


def differences_members(members: pl.DataFrame, records: Sequence[MemberRecord], goldens: Mapping[str, Golden],
                        receives: Mapping[str, Collection[str]], carries: Mapping[str, Collection[str]],
                        fields: Sequence[str], held: Mapping[str, Collection[str]] | None = None,
                        compare: Mapping[str, str] | None = None) -> dict[str, list[Difference]]:
    """``differences_many`` over a members frame already built (its ``row`` indexes ``records``);
    every entity of ``goldens`` gets a list, empty when none of its members differs."""
    stops = pl.DataFrame([(e, f) for e, names in (held or {}).items() for f in names],
                         schema={"entity": pl.String, "field": pl.String}, orient="row")
    out: dict[str, list[Difference]] = {e: [] for e in goldens}
    rows = {records[row].key: row for row in members.get_column("row")}
    found = differing(members, golden_columns(goldens, fields, rows), fields, receives, carries, stops, compare)
    for row, entity, field, _, correct in found.iter_rows():
        member, golden = records[row], goldens[entity]
        origin = golden.lineage.get(field, {})
        out[entity].append(Difference(member.system, member.record_id, field, member.values.get(field),
                                      golden.values[field], origin.get("source"), origin.get("rule"), correct))
    for found_here in out.values():
        found_here.sort(key=lambda d: (d.system, d.record_id, d.field))
    return out


def differences(golden: Golden, members: Sequence[MemberRecord], receives: Mapping[str, Collection[str]],
                carries: Mapping[str, Collection[str]]) -> list[Difference]:
    """One entity's differences (see ``differing``)."""
    fields = sorted(golden.values)
    return differences_many({"": (golden, members)}, receives, carries, fields)[""]


def corrections(found: Iterable[Difference]) -> dict[RecordKey, dict[str, Any]]:
    """The values to send, per record, for the differences a system is configured to receive."""
    out: dict[RecordKey, dict[str, Any]] = defaultdict(dict)
    for difference in found:
        if difference.correct:
            out[(difference.system, difference.record_id)][difference.field] = difference.golden_value
    return dict(out)


# The outbox's idempotency key: sha256 of "system US record_id US field=value RS ... US state"
# (fields sorted), where the state is the target record's as the hub read it
# (``reconciliation.outbox.SourceState.state``: its content hash and the run that staged that
# content). The same correction of the same state is one outbox row however often a run
# repeats; a record that takes a content again later (drifts back to exactly what it held
# when it was first corrected) is a new state, so it is corrected again.
_UNIT, _RECORD = "\x1f", "\x1e"


def correction_key(system: str, record_id: str, values: Mapping[str, Any], state: str | None) -> str:
    pairs = _RECORD.join(f"{field}={value}" for field, value in sorted(values.items()))
    return _sha256(_UNIT.join([system, record_id, pairs, state or ""]))


def correction_keys(corrections: pl.DataFrame, records: pl.DataFrame, slice_rows: int = 250_000) -> pl.DataFrame:
    """``correction_key`` for every corrected record at once.

    ``corrections`` has one row per corrected field (row, field, golden) and ``records`` one per
    record (row, system, record_id, state); the result has one row per corrected record
    (row, key). The text is built column-wise for a slice of records at a time, so memory stays
    bounded; only the digest is taken value by value.
    """
    parts = []
    rows = corrections.get_column("row")
    top = int(rows.max()) + 1 if len(rows) else 0  # type: ignore[arg-type]
    for start in range(0, top, slice_rows):
        window = pl.col("row").is_between(start, start + slice_rows, closed="left")
        pairs = (corrections.filter(window).group_by("row")
                 .agg((pl.col("field") + "=" + pl.col("golden")).sort_by("field").str.join(_RECORD).alias("pairs")))
        text = pairs.join(records.filter(window), on="row").select("row", pl.concat_str(
            ["system", "record_id", "pairs", pl.col("state").cast(pl.String).fill_null("")],
            separator=_UNIT).alias("text"))
        parts.append(text.select("row", pl.Series("key", [_sha256(t) for t in text.get_column("text")],
                                                  dtype=pl.String)))
    return pl.concat(parts) if parts else pl.DataFrame(schema={"row": rows.dtype, "key": pl.String})


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
