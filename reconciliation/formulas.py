"""Formula-like values (``mappings.formulas``) found column-wise: what the report flags and
the diff never corrects with.

A golden value a spreadsheet would run as a formula and that no real value starts with
(``=``, ``@``) is held: the diff reports the difference but sends no correction. Every
record holding formula-like free text is a finding of the run's report, per record and field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import polars as pl

from mappings.formulas import FREE_TEXT_FIELDS, HELD_PREFIXES, formula_like, held_formula

HELD = "held: not written to any system"
ESCAPED = "written as data; escaped in CSV import files"


def _starts(prefixes: Sequence[str]) -> str:
    return "^[" + "".join(re.escape(p) for p in prefixes) + "]"


def refused_formula(values: pl.Expr) -> pl.Expr:
    """True where a value is held (never written); false for every other value, null included."""
    return values.cast(pl.String).str.contains(_starts(HELD_PREFIXES)).fill_null(False)


class FormulaFinding(NamedTuple):
    system: str
    record_id: str
    field: str
    value: str
    action: str  # HELD or ESCAPED


def formula_findings(records: Iterable[tuple[str, str, Mapping[str, Any]]],
                     fields: Sequence[str] = FREE_TEXT_FIELDS) -> list[FormulaFinding]:
    """Per record (system, record id, canonical values) and free-text field: a value a
    spreadsheet would run as a formula, and what the hub does with it."""
    found = []
    for system, record_id, values in records:
        for field in fields:
            value = values.get(field)
            if isinstance(value, str) and formula_like(value):
                found.append(FormulaFinding(system, record_id, field, value, HELD if held_formula(value) else ESCAPED))
    return sorted(found)
