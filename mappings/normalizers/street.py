"""A street line split into the street's name and the house number, compared apart.

Records write one house in many ways: "Školní 531/105" (Czech číslo popisné / číslo
orientační), "Školní 105" (the orientační number alone), "č.p. 604" (a village without
streets), "604/125" and "604", "Hauptstraße 5a", "ul. Długa 12/4". Compared as one text,
a street line differs in almost half the true pairs; split, the street's name compares as
a name, and the house numbers agree when one side's numbers contain the other's
(``house_number`` holds "531/105": the matcher folds it to "531 105" and compares the
numbers as a set, see the README).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from mappings.normalizers._tables import load_table
from mappings.normalizers.address import normalize_street

# "č.p.", "čp.", "č. p.", "c.p." (popisné) and "č.o." (orientační) only say which number follows.
_NUMBER_MARK = re.compile(r"(?<!\w)(?:č|c)\.?\s?(?:p|o)\.?(?=\s*\d)", re.IGNORECASE)
# Polish "ul." and "ulica" name the kind of street, not the street.
_STREET_WORD = re.compile(r"^(?:ul\.|ulica\s)\s*", re.IGNORECASE)
# The house number at the end: "531/105", "3a", "5 a", "778/3a", "5-7".
_HOUSE = re.compile(r"(?:^|[\s,])(?P<number>\d+(?:\s?[a-z])?(?:\s?[/-]\s?\d+(?:\s?[a-z])?)?)$",
                    re.IGNORECASE)


@dataclass(frozen=True)
class StreetParts:
    name: str | None  # "Školní", "Hauptstraße", "Długa"; None for a bare "č.p. 604"
    house_number: str | None  # "531/105", "604", "5a": lower case, no spaces


def split_street(value: Any, country: str | None = None) -> StreetParts:
    """The street's name (abbreviations written out) and its house number; either may be missing."""
    text = normalize_street(value)
    if text is None:
        return StreetParts(None, None)
    text = _STREET_WORD.sub("", _NUMBER_MARK.sub(" ", text)).strip(" ,;")
    match = _HOUSE.search(text)
    name = (text if match is None else text[: match.start()]).strip(" ,;")
    number = None if match is None else re.sub(r"\s", "", match["number"]).lower()
    return StreetParts(_written_out(name, country or "CZ") or None, number)


def _written_out(name: str, country: str) -> str:
    pattern, table = _abbreviations(country)
    if pattern is None:
        return name
    return pattern.sub(lambda m: _same_case(m.group(0), table[m.group(0).casefold()]), name)


def _same_case(written: str, full: str) -> str:
    if written.isupper() and len(written) > 1:  # "HAUPTSTRASSE", not "HAUPTStraße"
        return full.upper()
    return full[:1].upper() + full[1:] if written[:1].isupper() else full


@cache
def _abbreviations(country: str) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """The country's abbreviations as one pattern (longest first) and their full forms."""
    table = {k.casefold(): v for k, v in load_table("streets").get(country, {}).items()}
    if not table:
        return None, {}
    words = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
    return re.compile(rf"(?:{words})(?!\w)", re.IGNORECASE), table


def normalize_street_name(value: Any, country: str | None = None) -> str | None:
    """"Školní 531/105" -> "Školní"; "ul. Długa 12/4" -> "Długa"; "Hauptstr. 5" -> "Hauptstraße"."""
    return split_street(value, country).name


def normalize_house_number(value: Any) -> str | None:
    """"Školní 531/105" -> "531/105"; "Lhota č.p. 604" -> "604"; "Hauptstraße 5 a" -> "5a"."""
    return split_street(value).house_number
