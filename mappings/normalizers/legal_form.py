"""Legal forms: one canonical abbreviation for every spelling, from a company name or an ARES code.

"s.r.o.", "spol. s r.o.", "s. r. o." and "společnost s ručením omezeným" are one legal form
(the table of forms and spellings is data: mappings/tables/legal_forms.yaml);
the company *name* keeps its own spelling (that difference is real and gets corrected),
but ``legal_form`` compares equal. Names are compared as word tokens so that dots and
spaces do not matter and "Bratři Jonas" is not mistaken for an "a.s.".
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

from mappings.normalizers._common import as_str
from mappings.normalizers._tables import load_table
from mappings.normalizers.text import repair_mojibake

_WORD = re.compile(r"\w+")


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(unicodedata.normalize("NFC", text).casefold()))


def _variants(table: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    """The table's forms, each spelling checked to stand for one form only."""
    owner: dict[tuple[str, ...], str] = {}
    for canonical, spellings in table.items():
        for spelling in spellings:
            other = owner.setdefault(_tokens(str(spelling)), canonical)
            if other != canonical:
                raise ValueError(f"legal form spelling {spelling!r} is both {other!r} "
                                 f"and {canonical!r}")
    return {canonical: tuple(str(v) for v in spellings) for canonical, spellings in table.items()}


_TABLE = load_table("legal_forms")
# canonical abbreviation -> the spellings seen in names (CZ, SK, DE, AT, PL, HU, SI…)
LEGAL_FORM_VARIANTS: dict[str, tuple[str, ...]] = _variants(_TABLE["forms"])
# Words after the legal form that describe a state, not a different form: "ABC s.r.o. v likvidaci".
TRAILING_STATES: tuple[tuple[str, ...], ...] = tuple(
    dict.fromkeys(_tokens(state) for state in _TABLE["trailing_states"]))
# ARES ``pravniForma`` (ČSÚ code list) -> canonical abbreviation, for forms names carry too.
ARES_CODES: dict[str, str] = {str(code): form for code, form in _TABLE["ares_codes"].items()}


@cache
def _by_length() -> list[tuple[tuple[str, ...], str]]:
    """(tokens, canonical) longest first, so "GmbH & Co. KG" wins over "KG"."""
    pairs = [(_tokens(v), canonical) for canonical, vs in LEGAL_FORM_VARIANTS.items() for v in vs]
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


@cache
def _by_last_token() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """_by_length() grouped by a variant's last token, order kept: only those can end a name."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for variant, canonical in _by_length():
        if variant:
            index.setdefault(variant[-1], []).append((variant, canonical))
    return index


def _strip_state(tokens: tuple[str, ...]) -> tuple[str, ...]:
    for state in TRAILING_STATES:
        if tokens[-len(state):] == state:
            return tokens[: -len(state)]
    return tokens


def legal_form_from_name(value: Any) -> str | None:
    """The canonical legal form at the end of a company name, or None if it carries none."""
    tokens = _strip_state(_tokens(repair_mojibake(as_str(value))))
    if not tokens:
        return None
    for variant, canonical in _by_last_token().get(tokens[-1], ()):
        if len(tokens) > len(variant) and tokens[-len(variant):] == variant:
            return canonical
    return None


def legal_form_from_code(value: Any) -> str | None:
    """The canonical legal form for an ARES ``pravniForma`` code; None for forms without one."""
    return ARES_CODES.get(as_str(value).strip())


def canonical_legal_form(value: Any) -> str | None:
    """A legal form written on its own ("spol. s r. o.") as its canonical abbreviation."""
    tokens = _tokens(as_str(value))
    return next((canonical for variant, canonical in _by_length() if variant == tokens), None)
