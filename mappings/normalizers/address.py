"""Address parts: street lines and postal codes.

Postal codes have one shape per country (mappings/tables/postal_codes.yaml): Czech and
Slovak five digits people write "110 00" or "11000", Polish "65-001" also written "65001",
German "80331" written "D-80331". A country without a rule keeps its code's own shape
("SW1A 1AA"), trimmed; a record without a country is read as Czech or Slovak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from mappings.errors import InvalidValue
from mappings.normalizers._tables import load_table
from mappings.normalizers.text import normalize_text

LABEL = "postal code"
_PREFIX = re.compile(r"^(?P<prefix>[A-Z]{1,3})(?:[\s-]+|(?=\d))(?P<rest>\d.*)$")
_GAPS = re.compile(r"[\s-]")
# "338 / 16" and "338/ 16" are the same house number as "338/16".
_HOUSE_SLASH = re.compile(r"(?<=\d)\s*/\s*(?=\d)")


@dataclass(frozen=True)
class PostalRule:
    country: str
    format: str  # "#" a digit: "#####", "##-###"
    prefixes: frozenset[str]

    @property
    def digits(self) -> int:
        return self.format.count("#")

    def apply(self, text: str) -> str:
        digits = _GAPS.sub("", text)
        if not (digits.isdigit() and len(digits) == self.digits):
            raise InvalidValue(LABEL, self._shape())
        it = iter(digits)
        return "".join(next(it) if c == "#" else c for c in self.format)

    def _shape(self) -> str:
        return f"not {self.digits} digits" if set(self.format) == {"#"} else f"not {self.format}"


@cache
def _rules() -> dict[str, PostalRule]:
    return {country: PostalRule(country, str(rule["format"]), frozenset(rule["prefixes"]))
            for country, rule in load_table("postal_codes").items()}


@cache
def _prefix_countries() -> dict[str, frozenset[str]]:
    """A prefix -> the countries it may stand for ("CS" was Czechoslovakia: CZ and SK)."""
    found: dict[str, set[str]] = {}
    for rule in _rules().values():
        for prefix in rule.prefixes:
            found.setdefault(prefix, set()).add(rule.country)
    return {prefix: frozenset(countries) for prefix, countries in found.items()}


def normalize_street(value: Any) -> str | None:
    text = normalize_text(value)
    return _HOUSE_SLASH.sub("/", text) if text else None


def normalize_postal_code(value: Any, country: str | None = None) -> str | None:
    """"D-80331" -> "80331" (DE), "65001" -> "65-001" (PL), "110 00" -> "11000" (CZ, SK and
    unknown); a country without a rule: trimmed, upper case."""
    text = normalize_text(value)
    if text is None:
        return None
    text = text.upper()
    rule = _rules().get(country or "CZ")
    if rule is None:
        return text
    return rule.apply(_without_prefix(text, rule, country))


def _without_prefix(text: str, rule: PostalRule, country: str | None) -> str:
    match = _PREFIX.match(text)
    if match is None:
        return text
    countries = _prefix_countries().get(match["prefix"], frozenset())
    if rule.country in countries:
        return match["rest"]
    if countries:
        named = "/".join(sorted(countries))
        own = f"the record's country is {country}" if country else "the record has no country"
        raise InvalidValue(LABEL, f"a {named} postal code, {own}")
    return text
