"""Cities as the municipality names itself: exonyms and districts folded.

"Prague", "Prag" and "Praha 4 - Nusle" are one city, "Praha"; "Pressburg" is "Bratislava",
"Vídeň" and "Vienna" are "Wien". The names and the cities written with districts are a
table (mappings/tables/places.yaml); a city the table does not know is kept as written
(Unicode NFC, single spaces), as the ``text`` normalizer keeps it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from mappings.normalizers._tables import fold_key, load_table, lookup_key, unambiguous_folds
from mappings.normalizers.text import normalize_text

# "Praha 4", "Praha 10 - Nusle", "Praha-Smíchov", "Praha 4, Nusle", "Bratislava II", "Wien 3.".
_DISTRICT = r"(?:\s*(?:\d{{1,2}}\.?|[IVX]{{1,5}})(?!\w))?(?:\s*[-–,]\s*(?P<part>\S.*))?"


def normalize_city(value: Any) -> str | None:
    """"Prag", "Praha 4 - Nusle" -> "Praha"; "Brno-střed" -> "Brno"; others as written."""
    text = normalize_text(value)
    if text is None:
        return None
    return _own_name(text) or _without_district(text) or text


def _own_name(text: str) -> str | None:
    return _exonyms().get(lookup_key(text)) or _folded().get(fold_key(text))


def _without_district(text: str) -> str | None:
    for city, pattern, excluded in _districts():
        match = pattern.match(text)
        if match and (match["part"] is None or lookup_key(match["part"]) not in excluded):
            return city
    return None


@cache
def _exonyms() -> dict[str, str]:
    return {lookup_key(str(name)): city for name, city in load_table("places")["exonyms"].items()}


@cache
def _folded() -> dict[str, str]:
    return unambiguous_folds(_exonyms())


@cache
def _districts() -> tuple[tuple[str, re.Pattern[str], frozenset[str]], ...]:
    """Per city: a pattern for its name (or an exonym) with a district, and the parts that
    are other places."""
    names: dict[str, set[str]] = {}
    for name, city in load_table("places")["exonyms"].items():
        names.setdefault(city, set()).add(str(name))
    compiled = []
    for city, rule in load_table("places")["districts"].items():
        spellings = sorted({city, *names.get(city, ())}, key=len, reverse=True)
        heads = "|".join(re.escape(s) for s in spellings)
        pattern = re.compile(rf"^(?:{heads}){_DISTRICT.format()}$", re.IGNORECASE)
        excluded = frozenset(lookup_key(str(part)) for part in (rule or {}).get("not", ()))
        compiled.append((city, pattern, excluded))
    return tuple(compiled)
