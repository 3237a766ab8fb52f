"""Text: mojibake repaired, Unicode NFC and single spaces.

Diacritics are kept: a missing háček is a real difference, which reconciliation corrects.

Mojibake is text whose UTF-8 bytes were read in a one-byte code page: "NovĂˇk" (cp1250,
the Czech Windows page), "MÃ¼ller" (cp1252). ftfy finds and undoes the common cases; it
leaves some cp1250 ones ("Ĺ kolnĂ­"), so those get one more try: the text put back into
cp1250 bytes must read as UTF-8, into letters of the Latin script only. Czech text written
in cp1250 almost never forms valid UTF-8, and when it does ("ÚŠ…") it reads as Arabic.
Repair runs before the spaces are tidied: a no-break space is part of some mojibake.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import ftfy
from ftfy.badness import is_bad

from mappings.normalizers._common import as_str

# \s covers no-break space (U+00A0), narrow no-break space (U+202F), tabs and line breaks.
_SPACES = re.compile(r"\s+")
# UTF-8 read in a one-byte page always leaves a lead byte's character (0xC2-0xF4) followed by a
# continuation byte's (0x80-0xBF). Text without such a pair is no mojibake of that kind and
# is not handed to ftfy, whose check costs tens of µs a value; Czech text has almost none
# ("Dvořák": ř is 0xF8, no lead).
_PAGES = ("cp1250", "cp1252", "latin-1")


def _characters(first: int, last: int) -> str:
    found = {bytes([b]).decode(page, errors="ignore")
             for page in _PAGES for b in range(first, last + 1)}
    return re.escape("".join(sorted(found - {""})))


_PAIR = re.compile(f"[{_characters(0xC2, 0xF4)}][{_characters(0x80, 0xBF)}]")
_LATIN_OR_PUNCTUATION = re.compile(r"^[\u0000-\u024f\u1e00-\u1eff\u2000-\u206f\u20ac]*$")


def normalize_text(value: Any) -> str | None:
    """Mojibake repaired, NFC, every run of whitespace as one space, trimmed; empty is None."""
    text = unicodedata.normalize("NFC", repair_mojibake(as_str(value)))
    text = _SPACES.sub(" ", text).strip()
    return text or None


def repair_mojibake(text: str) -> str:
    """"NovĂˇk" -> "Novák", "MÃ¼ller" -> "Müller"; text that is not mojibake as it is."""
    if text.isascii() or _PAIR.search(text) is None:
        return text
    if is_bad(text):
        text = ftfy.fix_encoding(text)
    return _from_cp1250(text)


def _from_cp1250(text: str) -> str:
    try:
        repaired = text.encode("cp1250").decode("utf-8")
    except UnicodeError:  # not cp1250 characters, or their bytes are not UTF-8: no mojibake
        return text
    return repaired if _LATIN_OR_PUNCTUATION.match(repaired) else text
