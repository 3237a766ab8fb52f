"""Countries as ISO 3166-1 alpha-2, from codes, English names and neighbours' names.

The Czech, Slovak, German, Polish and Hungarian names come from pycountry's own
translations (iso-codes), so "Německo" or "Rakousko" need no hand-made table; only
colloquial forms that no translation carries ("Česká republika", "ČR") are listed here.
"""

from __future__ import annotations

import gettext
import unicodedata
from functools import cache
from typing import Any

import pycountry

from mappings.errors import InvalidValue
from mappings.normalizers._common import as_str

LABEL = "country"
_TRANSLATIONS = ("cs", "sk", "de", "pl", "hu")  # the neighbours whose names appear in records
_ALIASES: dict[str, str] = {
    "česká republika": "CZ",
    "čr": "CZ",
    "czech republic": "CZ",
    "slovenská republika": "SK",
    "slovak republic": "SK",
    "uk": "GB",  # common, though not ISO
    "el": "GR",  # Greece's VAT prefix, pasted where a country is expected
    "velká británie": "GB",
    "usa": "US",
}


def normalize_country(value: Any) -> str:
    """Alpha-2 for "CZ", "CZE", "Czechia", "Česko", "Česká republika", "Německo"…"""
    key = _key(as_str(value))
    found = _ALIASES.get(key) or _pycountry_lookup(key) or _translated_names().get(key)
    if found is None:
        raise InvalidValue(LABEL, "unknown country")
    return found


def _key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def _pycountry_lookup(key: str) -> str | None:
    try:
        return str(pycountry.countries.lookup(key).alpha_2)
    except LookupError:
        return None


@cache
def _translated_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for language in _TRANSLATIONS:
        translate = gettext.translation(
            "iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True
        ).gettext
        for country in pycountry.countries:
            for attr in ("name", "common_name", "official_name"):
                if english := getattr(country, attr, None):
                    names.setdefault(_key(translate(english)), country.alpha_2)
    return names
