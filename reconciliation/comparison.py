"""Comparison keys: when two values of a field say the same thing in another spelling.

Canonical values keep their source's spelling ("PRAHA", "L-1855"), because that is what a
system holds and what the golden record shows. Whether two of them differ is decided on
each field's comparison key instead, so that a difference only in representation (case,
spacing, a postal code's country prefix or grouping) is neither a conflict nor a correction.

The rule of each field is data (``FIELD_KEYS``: field -> key name; hub.yaml may override it
through ``RunRules.compare``); every key exists twice, as a polars expression for the
column-wise diff and as a Python function for the per-record decisions (conflicts, golden
versions). tests/reconciliation/test_comparison.py holds the two to the same answers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Annotated, Any, NamedTuple

import polars as pl
from pydantic import AfterValidator



class KeyRule(NamedTuple):
    scalar: Callable[[Any, str | None], str | None]  # (value, its record's country) -> key
    column: Callable[[pl.Expr, pl.Expr], pl.Expr]  # (values, countries) -> keys


# Spellings of a country in front of a postal code: its ISO code ("DE-80331") and its
# international vehicle code, which old letterheads use ("D-80331", "L-1855", "A-1010").
_VEHICLE = {"AT": "A", "BE": "B", "CH": "CH", "DE": "D", "DK": "DK", "EE": "EST", "ES": "E", "FI": "FIN",
            "FR": "F", "GR": "GR", "HU": "H", "IE": "IRL", "IT": "I", "LI": "FL", "LU": "L", "NO": "N",
            "PT": "P", "SE": "S", "SI": "SLO"}
_DIGITS = list("0123456789")
_GAPS = r"[\s\-]"
_SPACES = re.compile(r"\s+")  # as mappings.normalizers.text reads a space: no-break spaces too
_MARKS = re.compile(r"[\u0300-\u036f]")  # the combining diacritics of Latin letters, once decomposed


# -- Python ---------------------------------------------------------------------------


def _text(value: Any, country: str | None = None) -> str | None:
    """Case and spacing do not count: single spaces, trimmed, lower case ("ß" as "ss").

    Canonical text is NFC already (``mappings.normalizers.text``, which every text field's
    normalizer goes through): the key does not repeat it, it is the costliest step."""
    if value is None:
        return None
    return _SPACES.sub(" ", str(value)).strip().lower().replace("ß", "ss")


def _fold(value: Any, country: str | None = None) -> str | None:
    """As ``text``, and diacritics do not count either ("Plzeň" = "Plzen")."""
    text = _text(value)
    if text is None:
        return None
    return unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFKD", text)))


def _postal(value: Any, country: str | None = None) -> str | None:
    """Spacing, dashes and the country's prefix do not count: "L-1855" = "1855", "602 00" = "60200"."""
    if value is None:
        return None
    compact = re.sub(_GAPS, "", str(value).upper())
    for prefix in ([country, _VEHICLE.get(country, country)] if country else []):
        rest = compact.removeprefix(prefix)
        if rest != compact and rest[:1] in _DIGITS:
            return rest
    return compact or None


def _decimal(value: Any, country: str | None = None) -> str | None:
    """Trailing zeros of a fraction do not count: "150000.50" = "150000.5", "100.00" = "100"."""
    if value is None:
        return None
    text = str(value)
    return text.rstrip("0").removesuffix(".") if "." in text else text


def _exact(value: Any, country: str | None = None) -> str | None:
    return None if value is None else str(value)


# -- polars ---------------------------------------------------------------------------


def _text_column(values: pl.Expr, countries: pl.Expr) -> pl.Expr:
    return (values.cast(pl.String).str.replace_all(_SPACES.pattern, " ").str.strip_chars()
            .str.to_lowercase().str.replace_all("ß", "ss", literal=True))


def _fold_column(values: pl.Expr, countries: pl.Expr) -> pl.Expr:
    folded = _text_column(values, countries).str.normalize("NFKD").str.replace_all(_MARKS.pattern, "")
    return folded.str.normalize("NFC")


def _postal_column(values: pl.Expr, countries: pl.Expr) -> pl.Expr:
    compact = values.cast(pl.String).str.to_uppercase().str.replace_all(_GAPS, "")
    country = countries.cast(pl.String)
    key = compact
    for prefix in (country.replace(_VEHICLE), country):  # the longer, own code is tried last, so wins
        rest = compact.str.strip_prefix(prefix)
        key = pl.when(rest.str.head(1).is_in(_DIGITS) & (rest != compact)).then(rest).otherwise(key)
    return pl.when(key != "").then(key)


def _decimal_column(values: pl.Expr, countries: pl.Expr) -> pl.Expr:
    text = values.cast(pl.String)
    return pl.when(text.str.contains(".", literal=True)).then(
        text.str.strip_chars_end("0").str.strip_suffix(".")).otherwise(text)


def _exact_column(values: pl.Expr, countries: pl.Expr) -> pl.Expr:
    return values.cast(pl.String)


KEYS: dict[str, KeyRule] = {
    "exact": KeyRule(_exact, _exact_column),
    "text": KeyRule(_text, _text_column),
    "fold": KeyRule(_fold, _fold_column),
    "postal_code": KeyRule(_postal, _postal_column),
    "decimal": KeyRule(_decimal, _decimal_column),
}

# Each field's comparison. Diacritics count by default (a missing háček is a real difference
# that the systems should be corrected on): ``fold`` is there for a field configured so.
# Identifiers, codes, phone numbers and IBANs are compact already: their key is the value.
FIELD_KEYS: dict[str, str] = {
    "legal_name": "text", "legal_form": "text", "street": "text", "city": "text", "email": "text",
    "postal_code": "postal_code", "credit_limit": "decimal",
}
COUNTRY = "country"  # the field whose value says how a postal code may be spelled


def known_key(name: str) -> str:
    """``name`` if it is a comparison key (the check hub.yaml's ``compare:`` goes through)."""
    if name not in KEYS:
        raise ValueError(f"unknown comparison {name!r}; known: {', '.join(sorted(KEYS))}")
    return name


ComparisonKeyName = Annotated[str, AfterValidator(known_key)]


def key_rule(field: str, compare: Mapping[str, str] | None = None) -> KeyRule:
    return KEYS[(compare or FIELD_KEYS).get(field, FIELD_KEYS.get(field, "exact"))]


def value_key(field: str, value: Any, country: str | None, compare: Mapping[str, str] | None = None) -> str | None:
    """The key ``value`` of ``field`` is compared by (``country``: its record's country)."""
    return key_rule(field, compare).scalar(value, None if country is None else str(country))


def column_key(field: str, values: pl.Expr, countries: pl.Expr, compare: Mapping[str, str] | None = None) -> pl.Expr:
    """``value_key`` column-wise."""
    return key_rule(field, compare).column(values, countries)


def same(field: str, a: Any, a_country: str | None, b: Any, b_country: str | None,
         compare: Mapping[str, str] | None = None) -> bool:
    """Whether two values of ``field`` say the same (both empty counts as the same)."""
    return value_key(field, a, a_country, compare) == value_key(field, b, b_country, compare)
