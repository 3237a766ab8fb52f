"""Legal forms: one canonical abbreviation for every spelling, from a company name or an ARES code.

"s.r.o.", "spol. s r.o.", "s. r. o." and "společnost s ručením omezeným" are one legal form;
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

# canonical abbreviation -> the spellings seen in names (Czech, Slovak, German, Polish, Hungarian…)
LEGAL_FORM_VARIANTS: dict[str, tuple[str, ...]] = {
    "s.r.o.": ("s.r.o.", "sro", "spol. s r.o.", "společnost s ručením omezeným",
               "spoločnosť s ručením obmedzeným"),
    "a.s.": ("a.s.", "akciová společnost", "akciová spoločnosť"),
    "v.o.s.": ("v.o.s.", "veřejná obchodní společnost", "ver. obch. spol.",
               "verejná obchodná spoločnosť"),
    "k.s.": ("k.s.", "komanditní společnost", "kom. spol.", "komanditná spoločnosť"),
    "z.s.": ("z.s.", "zapsaný spolek"),
    "p.s.": ("p.s.", "pobočný spolek"),
    "o.p.s.": ("o.p.s.", "obecně prospěšná společnost"),
    "z.ú.": ("z.ú.", "zapsaný ústav"),
    "SE": ("SE", "evropská společnost"),
    "GmbH": ("GmbH", "Gesellschaft mit beschränkter Haftung"),
    "GmbH & Co. KG": ("GmbH & Co. KG", "GmbH & Co KG"),
    "AG": ("AG", "Aktiengesellschaft"),
    "KG": ("KG", "Kommanditgesellschaft"),
    "OHG": ("OHG", "offene Handelsgesellschaft"),
    "Sp. z o.o.": ("Sp. z o.o.", "spółka z ograniczoną odpowiedzialnością"),
    "S.A.": ("S.A.", "spółka akcyjna"),
    "Sp.k.": ("Sp.k.", "spółka komandytowa"),
    "Kft.": ("Kft.", "korlátolt felelősségű társaság"),
    "Zrt.": ("Zrt.", "zártkörűen működő részvénytársaság"),
    "Nyrt.": ("Nyrt.", "nyilvánosan működő részvénytársaság"),
    "Bt.": ("Bt.", "betéti társaság"),
    "d.o.o.": ("d.o.o.", "družba z omejeno odgovornostjo"),
    "S.R.L.": ("S.R.L.", "societate cu răspundere limitată"),
    "Ltd": ("Ltd", "Ltd.", "Limited"),
    "Inc.": ("Inc.", "Incorporated"),
    "LLC": ("LLC",),
}

# Words after the legal form that describe a state, not a different form: "ABC s.r.o. v likvidaci".
TRAILING_STATES: tuple[tuple[str, ...], ...] = (
    ("v", "likvidaci"), ("v", "konkursu"), ("v", "insolvenci"), ("v", "likvidácii"),
    ("in", "liquidation"),
)

# ARES ``pravniForma`` (ČSÚ code list of legal forms) -> canonical abbreviation. Only the
# forms that names also carry as a suffix: elsewhere (universities, municipalities…) ARES
# and the other systems would disagree about a form no name spells out.
ARES_CODES: dict[str, str] = {
    "111": "v.o.s.",
    "112": "s.r.o.",
    "113": "k.s.",
    "121": "a.s.",
    "141": "o.p.s.",
    "161": "z.ú.",
    "706": "z.s.",
    "736": "p.s.",
}

_WORD = re.compile(r"\w+")


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(unicodedata.normalize("NFC", text).casefold()))


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
    tokens = _strip_state(_tokens(as_str(value)))
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
