"""Which records an incremental reconcile must look at again (docs/adr/0005-incremental-reconcile.md).

The input is a key frame: one row per record with ``hub_id`` (its xref's, null for a new
record), a ``seed`` flag (the record is in the change set), ``unpinned`` (the Linker places it
again: new, or changed and not placed by a steward) and the columns the match rules read. The scope is the smallest set, closed under what the Linker and survivorship
join records by, that holds every seed:

- the records that share a blocking key with an unpinned record without a key (the only
  records the Linker scores pairs for), every record of each key: block sizes stay exact;
- every record of a hub id one of them belongs to (existing membership is an edge, and
  survivorship and the diff read the whole hub id);
- every record sharing a deterministic key value with one of them (a key is an edge);
- both records of a steward's match / not-a-match decision once either is in.

Every connected component the Linker would build around a record it places again is then
whole inside the scope, so it decides there what it decides over the estate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from reconciliation.matching.features import with_features
from reconciliation.matching.settings import MatchSettings
from reconciliation.records import RecordKey

HUB, SEED, UNPINNED = "hub_id", "seed", "unpinned"


def block_columns(settings: MatchSettings) -> list[str]:
    return [f"_block{i}" for i in range(len(settings.blocking))]


def with_block_keys(frame: pl.DataFrame, settings: MatchSettings) -> pl.DataFrame:
    """``frame`` (holding the settings' source columns) with one key per blocking rule (null
    where a column of the rule is empty), hashed as ``reconciliation.matching.blocking`` does;
    the source columns other than the keys are dropped."""
    featured = with_features(frame, settings.features)
    keys = [pl.when(pl.all_horizontal([pl.col(c).is_not_null() for c in rule]))
            .then(pl.struct(list(rule)).hash()).alias(name)
            for rule, name in zip(settings.blocking, block_columns(settings), strict=True)]
    kept = [c for c in frame.columns if c not in settings.source_columns() or c in settings.keys]
    return featured.select(*kept, *keys)


def scope_mask(frame: pl.DataFrame, settings: MatchSettings, hubs: Iterable[str] = (),
               pairs: Sequence[tuple[RecordKey, RecordKey]] = ()) -> pl.Series:
    """Per row of a key frame (with the settings' source columns): whether the record is in the scope.

    ``hubs``: hub ids whose records are seeds too (a steward's decision, a held conflict);
    ``pairs``: the steward's unexpired match / not-a-match decisions.
    """
    hub_ids = pl.Series(sorted(set(hubs)), dtype=pl.String)
    selected = frame.get_column(SEED) | frame.get_column(HUB).is_in(hub_ids.implode())
    no_key = pl.all_horizontal([pl.col(k).is_null() for k in settings.keys])
    if settings.probabilistic and frame.select((pl.col(UNPINNED) & no_key).any()).item():
        keyed = with_block_keys(frame, settings)  # the features cost: only when a pair may be scored
        opened = keyed.filter(pl.col(UNPINNED) & no_key)
        for column in block_columns(settings):
            selected = selected | keyed.get_column(column).is_in(opened.get_column(column).drop_nulls().implode())
    paired = _pair_rows(frame, pairs)
    while True:
        grown = _grow(frame, selected, settings.keys, paired)
        if grown.sum() == selected.sum():
            return grown
        selected = grown


def _grow(frame: pl.DataFrame, selected: pl.Series, keys: Sequence[str], paired: pl.DataFrame) -> pl.Series:
    grown = selected
    for column in [HUB, *keys]:
        values = frame.get_column(column).filter(selected).drop_nulls().unique()
        grown = grown | frame.get_column(column).is_in(values.implode())
    if paired.height:
        either = grown.gather(paired["a"]) | grown.gather(paired["b"])
        rows = pl.concat([paired["a"].filter(either), paired["b"].filter(either)])
        grown = grown | pl.int_range(0, frame.height, eager=True).is_in(rows.implode())
    return grown.fill_null(False)


def _pair_rows(frame: pl.DataFrame, pairs: Sequence[tuple[RecordKey, RecordKey]]) -> pl.DataFrame:
    """The row numbers of both records of each pair found in ``frame``."""
    schema = {"a": pl.Int64, "b": pl.Int64}
    if not pairs:
        return pl.DataFrame(schema=schema)
    rows = frame.select("system", "record_id").with_row_index("_row")
    named = pl.DataFrame([(*a, *b) for a, b in pairs], schema=["sa", "ra", "sb", "rb"], orient="row")
    joined = (named.join(rows, left_on=["sa", "ra"], right_on=["system", "record_id"])
              .rename({"_row": "a"})
              .join(rows, left_on=["sb", "rb"], right_on=["system", "record_id"]).rename({"_row": "b"}))
    return joined.select(pl.col("a").cast(pl.Int64), pl.col("b").cast(pl.Int64))


# -- the keys a store keeps per record, so that a scope is found by index ---------------------

KIND, KEY = "kind", "key"


def key_kinds(settings: MatchSettings) -> list[str]:
    """What each kind of stored key is: the blocking rules' keys, then the deterministic keys.
    A kind's number is its position; the rules' fingerprint covers the list."""
    return [*block_columns(settings), *settings.keys]


def record_keys(frame: pl.DataFrame, settings: MatchSettings) -> pl.DataFrame:
    """One row per record and kind it holds a key of (``system``, ``record_id``, ``kind``,
    ``key``): the block keys ``with_block_keys`` hashes (only when the settings block), and each
    deterministic key's value hashed (equal values, equal keys). Keys are signed 64-bit, as a
    store keeps them; a lookup by key is checked against the records' values, so a hash shared
    by two values brings a record to look at, never one into the scope."""
    blocks = block_columns(settings) if settings.probabilistic else []
    keyed = with_block_keys(frame, settings) if blocks else frame
    kinds = key_kinds(settings)
    columns = [*[(kinds.index(b), pl.col(b)) for b in blocks],
               *[(kinds.index(k), _value_key(k)) for k in settings.keys]]
    schema = {"system": pl.String, "record_id": pl.String, KIND: pl.Int32, KEY: pl.Int64}
    parts = [keyed.select("system", "record_id", pl.lit(kind, pl.Int32).alias(KIND),
                          expression.reinterpret(signed=True).alias(KEY)).drop_nulls(KEY)
             for kind, expression in columns]
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def value_keys(settings: MatchSettings, column: str, values: Iterable[str]) -> list[int]:
    """The stored keys of a deterministic key's ``values`` (as ``record_keys`` hashes them)."""
    frame = pl.DataFrame({column: sorted(set(values))}, schema={column: pl.String})
    return frame.select(_value_key(column).reinterpret(signed=True)).to_series().drop_nulls().to_list()


def _value_key(column: str) -> pl.Expr:
    return pl.when(pl.col(column).is_not_null()).then(pl.struct([column]).hash())
