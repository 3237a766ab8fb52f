"""How each system's record differs from the golden record, and what to correct.

``differing`` works column-wise over every entity at once (a members frame, see
``reconciliation.survivorship``, against golden columns as ``golden_frame`` gives them);
``differences`` is the same for Python records, as the hub store holds them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from reconciliation.records import Difference, Golden, MemberRecord, RecordKey
from reconciliation.survivorship import members_frame

DIFFERING_SCHEMA = {"row": pl.UInt32, "field": pl.String, "golden": pl.String, "correct": pl.Boolean}


def differing(members: pl.DataFrame, golden: pl.DataFrame, fields: Sequence[str],
              receives: Mapping[str, Collection[str]], carries: Mapping[str, Collection[str]],
              held: pl.DataFrame | None = None) -> pl.DataFrame:
    """(row, entity, field, golden, correct): every field a member's system carries where it holds
    something other than the golden value (``golden`` as ``golden_frame`` gives it).

    A golden value that is empty never blanks a system's value; the record the golden value
    came from is not told about it; a field the system carries but does not receive, or one
    held in ``held`` (entity, field: a conflict waits for a steward), is reported, not corrected.
    """
    parts = []
    for field in fields:
        carriers = [s for s, carried in carries.items() if field in carried]
        receivers = [s for s, wanted in receives.items() if field in wanted]
        if not carriers or field not in golden.columns:
            continue
        # Two columns at a time: joining every field of every record at once doubles the estate.
        pair = (members.filter(pl.col("system").is_in(carriers))
                .select("row", "entity", "system", pl.col(field).alias("mine"))
                .join(golden.select("entity", pl.col(field).alias("golden"), pl.col(f"{field}__row").alias("origin")),
                      on="entity"))
        found = (pair.filter(pl.col("golden").is_not_null() & pl.col("mine").ne_missing(pl.col("golden"))
                             & pl.col("origin").ne_missing(pl.col("row")))
                 .select("row", "entity", pl.lit(field).alias("field"), "golden",
                         pl.col("system").is_in(receivers).alias("correct")))
        if held is not None:
            stop = held.filter(pl.col("field") == field).select("entity", pl.lit(True).alias("held"))
            found = (found.join(stop, on="entity", how="left")
                     .with_columns(pl.col("correct") & pl.col("held").is_null()).drop("held"))
        parts.append(found)
    if not parts:
        return pl.DataFrame(schema={"row": pl.UInt32, "entity": members.schema["entity"], **DIFFERING_SCHEMA})
    return pl.concat(parts).cast(DIFFERING_SCHEMA)  # type: ignore[arg-type]


def golden_columns(goldens: Mapping[str, Golden], fields: Sequence[str],
                   rows: Mapping[RecordKey, int]) -> pl.DataFrame:
    """Golden records as the columns ``differing`` reads: each field's value and the member row
    it came from (``rows``: record -> row; null for a record not among the members)."""
    columns: dict[str, pl.Series] = {"entity": pl.Series(list(goldens), dtype=pl.String)}
    for field in fields:
        origins = [g.lineage.get(field, {}) for g in goldens.values()]
        columns[field] = pl.Series([_text(g.values.get(field)) for g in goldens.values()], dtype=pl.String)
        columns[f"{field}__row"] = pl.Series([rows.get((o.get("source"), o.get("record_id"))) for o in origins],
                                             dtype=pl.UInt32)
    return pl.DataFrame(columns)


def differences_many(entities: Mapping[str, tuple[Golden, Sequence[MemberRecord]]],
                     receives: Mapping[str, Collection[str]], carries: Mapping[str, Collection[str]],
                     fields: Sequence[str], held: Mapping[str, Collection[str]] | None = None,
                     ) -> dict[str, list[Difference]]:
    """Every entity's differences, from one column-wise pass; each list ordered by record, then field."""
    frame, records = members_frame({e: members for e, (_, members) in entities.items()}, fields)
    goldens = {e: golden for e, (golden, _) in entities.items()}
    stops = pl.DataFrame([(e, f) for e, names in (held or {}).items() for f in names],
                         schema={"entity": pl.String, "field": pl.String}, orient="row")
    out: dict[str, list[Difference]] = {e: [] for e in entities}
    rows = {m.key: row for row, m in enumerate(records)}
    found = differing(frame, golden_columns(goldens, fields, rows), fields, receives, carries, stops)
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


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
