"""Member records as one polars frame: what matching, survivorship and diff read column-wise.

A records frame has one row per record: ``row`` (its position in the records it was built
from, which names the record), ``system``, ``record_id``, ``seen_at`` (ISO time the content
was first seen, for "most recent" and "first non-empty") and one text column per field. It is
built once per run; a members frame is (a part of) it with the ``entity`` each record
belongs to (a hub id or a cluster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from reconciliation.records import MemberRecord


def records_frame(records: Sequence[MemberRecord], fields: Sequence[str]) -> pl.DataFrame:
    """The records as columns, built column by column (not a dict per record); each value as
    ``text`` gives it, written out: a call per value was a third of the time."""
    columns = {"row": list(range(len(records))), "system": [m.system for m in records],
               "record_id": [m.record_id for m in records], "seen_at": [m.seen_at for m in records],
               **{f: [None if (v := m.values.get(f)) is None else str(v) for m in records] for f in fields}}
    return pl.DataFrame(columns, schema={"row": pl.UInt32, **{c: pl.String for c in columns if c != "row"}})


def with_entities(frame: pl.DataFrame, entity_of_row: Sequence[str | None]) -> pl.DataFrame:
    """The rows of a records frame that belong to an entity (null: to none), as a members frame."""
    entity = pl.Series("entity", entity_of_row, dtype=pl.String)
    return frame.select(entity, pl.all()).filter(pl.col("entity").is_not_null())


def members_frame(entities: Mapping[str, Sequence[MemberRecord]],
                  fields: Sequence[str]) -> tuple[pl.DataFrame, list[MemberRecord]]:
    """Python member records as a members frame, and the records by ``row``."""
    records = [m for members in entities.values() for m in members]
    owners = [e for e, members in entities.items() for _ in members]
    return with_entities(records_frame(records, fields), owners), records


def text(value: Any) -> str | None:
    return None if value is None else str(value)
