"""The fields of a record schema read from a frame of raw text columns, column-wise.

A record schema (``reconciliation.matching.schema``) names its fields, the input column each
is read from and the normalizer of ``mappings.normalizers`` it goes through. As in
``mappings.frames``, each normalizer is called once per distinct raw value and the results
joined back, so a column of a million names with a few thousand distinct ones costs a few
thousand calls. A value the normalizer rejects either rejects its row (with every reason of
the row, field by field) or is left empty, as the field says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from mappings.customer import _jsonable
from mappings.normalizers import NORMALIZERS

# Python's ``not s.strip()`` (see mappings.frames): a blank cell is no value.
_BLANK = r"^[\s\x1c-\x1f]*$"
_REASON = "\x00reason:"  # internal columns: NUL-prefixed, so that no input column clashes


@dataclass(frozen=True)
class FieldRule:
    source: str | tuple[str, ...]  # the raw column, or columns whose values are joined by a space
    normalizer: str  # a name of mappings.normalizers.NORMALIZERS
    reject: bool = True  # a rejected value rejects the row; otherwise it is left empty


@dataclass(frozen=True)
class FieldFrame:
    records: pl.DataFrame  # the rows that map: one String column per field, in the rules' order
    rejected: pl.DataFrame  # row (position in the raw frame), reason


def read_fields(raw: pl.DataFrame, rules: Mapping[str, FieldRule],
                country: str | None = None) -> FieldFrame:
    """``raw``'s rows as fields. A rule whose column ``raw`` lacks reads nothing (an empty field:
    a file may know only part of a record); a rule of several columns reads those present, joined
    by a space; ``country``: what country-aware normalizers assume."""
    columns, reasons = [], []
    for name, rule in rules.items():
        value, reason = _normalized(raw, name, rule, country)
        columns.append(value.alias(name))
        if rule.reject:
            reasons.append(reason)
    frame = pl.DataFrame(columns, schema=dict.fromkeys(rules, pl.String)) if columns else pl.DataFrame()
    why = (pl.DataFrame(reasons).select(pl.concat_str(pl.all(), separator="; ", ignore_nulls=True).alias("reason"))
           ["reason"] if reasons else pl.Series("reason", [None] * raw.height, pl.String))
    bad = why.is_not_null() & (why != "")
    rows = pl.int_range(0, raw.height, eager=True, dtype=pl.UInt32).alias("row")
    rejected = pl.DataFrame([rows.filter(bad), why.filter(bad)])
    return FieldFrame(frame.filter(~bad) if columns else frame, rejected)


def _normalized(raw: pl.DataFrame, name: str, rule: FieldRule,
                country: str | None) -> tuple[pl.Series, pl.Series]:
    """(the field's normalized values, the reason where the normalizer rejected one, else null)."""
    sources = [rule.source] if isinstance(rule.source, str) else list(rule.source)
    present = [pl.when(pl.col(c).cast(pl.String).str.contains(_BLANK)).then(None).otherwise(pl.col(c).cast(pl.String))
               for c in sources if c in raw.columns]
    if not present:
        empty = pl.Series(name, [None] * raw.height, pl.String)
        return empty, empty.alias(f"{_REASON}{name}")
    joined = pl.concat_str(present, separator=" ", ignore_nulls=True)
    text = raw.select(pl.when(joined == "").then(None).otherwise(joined).alias(name)).to_series()
    normalize = NORMALIZERS[rule.normalizer]
    values: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for distinct in text.drop_nulls().unique().to_list():
        try:
            values[distinct] = _as_text(normalize(distinct, country))
        except ValueError as e:  # InvalidValue and the libraries' own ValueErrors
            errors[distinct] = f"{name} {distinct!r}: {e}"
    value = text.replace_strict(values, default=None, return_dtype=pl.String) if values else text.clear(raw.height)
    reason = text.replace_strict(errors, default=None, return_dtype=pl.String) if errors else \
        pl.Series([None] * raw.height, dtype=pl.String)
    return value.alias(name), reason.alias(f"{_REASON}{name}")


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    plain = _jsonable(value)
    return plain if isinstance(plain, str) else str(plain)
