"""Countries as ISO 3166-1 alpha-2, from codes, English names and neighbours' names.

The Czech, Slovak, German, Polish, Slovene and Hungarian names come from pycountry's own
translations (iso-codes); the colloquial forms no translation carries ("ČR", "SRN", "D")
are a table (mappings/tables/countries.yaml). Both are compiled once into one lookup.
"""

from __future__ import annotations

import gettext
from functools import cache
from typing import Any

import pycountry

from mappings.errors import InvalidValue
from mappings.normalizers._common import as_str
from mappings.normalizers._tables import fold_key, load_table, lookup_key, unambiguous_folds

LABEL = "country"


def normalize_country(value: Any) -> str:
    """Alpha-2 for "CZ", "CZE", "Czechia", "Česko", "ČR", "SRN", "Nemecko", "Slovenija"…"""
    text = as_str(value)
    key = lookup_key(text)
    found = _aliases().get(key) or _pycountry_lookup(text) or _translated().get(key)
    found = found or _folded().get(fold_key(text))
    if found is None:
        raise InvalidValue(LABEL, "unknown country")
    return found


def is_alpha2(code: str) -> bool:
    """Whether ``code`` is an ISO 3166-1 alpha-2 code (what an alias must point to)."""
    return pycountry.countries.get(alpha_2=code) is not None


def _pycountry_lookup(text: str) -> str | None:
    try:
        return str(pycountry.countries.lookup(text.strip()).alpha_2)
    except LookupError:
        return None


@cache
def _aliases() -> dict[str, str]:
    aliases = load_table("countries")["aliases"]
    return {lookup_key(str(alias)): code for alias, code in aliases.items()}


@cache
def _folded() -> dict[str, str]:
    """Every name above without diacritics, an alias or English name before a translation."""
    english = {lookup_key(getattr(c, attr)): c.alpha_2 for c in pycountry.countries
               for attr in ("name", "common_name", "official_name") if hasattr(c, attr)}
    return unambiguous_folds({**_translated(), **english, **_aliases()})


@cache
def _translated() -> dict[str, str]:
    names: dict[str, str] = {}
    for language in load_table("countries")["translations"]:
        translate = gettext.translation(
            "iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True
        ).gettext
        for country in pycountry.countries:
            for attr in ("name", "common_name", "official_name"):
                if english := getattr(country, attr, None):
                    names.setdefault(lookup_key(translate(english)), country.alpha_2)
    return names
