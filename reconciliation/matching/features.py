"""Derived columns for matching, computed column-wise with polars (no Python loop per record).

Each transform is a small class with one method, ``expr``, from a column expression to a
new one; a feature is a chain of them, named in hub.yaml (``features:``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache

import polars as pl

# The legal forms and their spellings belong to mappings (one list for the whole hub).
# A private name, read here rather than copied: see the note in the closing report.
from core.errors import ConfigError
from mappings.normalizers.legal_form import TRAILING_STATES, LEGAL_FORM_VARIANTS
from reconciliation.matching.settings import FeatureSpec, feature_order


class Fold:
    """Lower case, no diacritics, punctuation as spaces: "Dvořák a.s." -> "dvorak a s"."""

    def expr(self, column: pl.Expr) -> pl.Expr:
        text = (column.cast(pl.String).str.normalize("NFKD").str.replace_all(r"\p{Mn}", "")
                .str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars())
        return pl.when(text == "").then(None).otherwise(text)


class StripLegalForm:
    """Drop a trailing legal form in any spelling (s.r.o. = spol. s r.o.) from a folded name.

    The legal form is compared on its own; the name core is what tells companies apart.
    """

    def expr(self, column: pl.Expr) -> pl.Expr:
        stripped = column.str.replace(_state_pattern(), "").str.replace(_form_pattern(), "")
        return pl.when(stripped == "").then(column).otherwise(stripped.str.strip_chars())


class SortTokens:
    """Words in alphabetical order, so that word order does not matter."""

    def expr(self, column: pl.Expr) -> pl.Expr:
        return column.str.split(" ").list.sort().list.join(" ")


class FirstToken:
    def expr(self, column: pl.Expr) -> pl.Expr:
        return column.str.split(" ").list.first()


class EmailDomain:
    """The part after @, lower case: colleagues of one company share it."""

    def expr(self, column: pl.Expr) -> pl.Expr:
        return column.cast(pl.String).str.to_lowercase().str.extract(r"@([^@\s]+)$", 1)


class Digits:
    """Only the digits (phone numbers, postal codes typed with spaces)."""

    def expr(self, column: pl.Expr) -> pl.Expr:
        digits = column.cast(pl.String).str.replace_all(r"\D", "")
        return pl.when(digits == "").then(None).otherwise(digits)


TRANSFORMS = {"fold": Fold(), "strip_legal_form": StripLegalForm(), "sort_tokens": SortTokens(),
              "first_token": FirstToken(), "email_domain": EmailDomain(), "digits": Digits()}


class UnknownSourceColumn(ConfigError, ValueError):
    """A feature built from a column that neither the records nor another feature provide."""


def with_features(frame: pl.DataFrame, features: Mapping[str, FeatureSpec]) -> pl.DataFrame:
    """``frame`` with one column per feature. A feature may build on another, wherever that
    one is listed: they are computed by dependency (sources first)."""
    missing = {name: spec.source for name, spec in features.items()
               if spec.source not in features and spec.source not in frame.columns}
    if missing:
        named = ", ".join(f"{name} (from {source})" for name, source in sorted(missing.items()))
        raise UnknownSourceColumn(f"features built from an unknown column: {named}")
    for name in feature_order(features):
        spec = features[name]
        expr = pl.col(spec.source)
        for step in spec.steps:
            expr = TRANSFORMS[step].expr(expr)
        frame = frame.with_columns(expr.alias(name))
    return frame


def _fold_python(text: str) -> str:
    # The same folding as Fold, for the handful of legal-form spellings that build the patterns.
    frame = pl.DataFrame({"t": [text]}).select(Fold().expr(pl.col("t")))
    return frame.item() or ""


@cache
def _form_pattern() -> str:
    spellings = {_fold_python(v) for variants in LEGAL_FORM_VARIANTS.values() for v in variants}
    ordered = sorted((s for s in spellings if s), key=len, reverse=True)
    return r"(?:^|\s)(?:" + "|".join(re.escape(s) for s in ordered) + r")$"


@cache
def _state_pattern() -> str:
    states = sorted((" ".join(s) for s in TRAILING_STATES), key=len, reverse=True)
    return r"\s(?:" + "|".join(re.escape(_fold_python(s)) for s in states) + r")$"
