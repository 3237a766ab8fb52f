"""A first look at an export file's bytes, before any row is read, and the mojibake test.

``first_look`` refuses a file as a whole, in bounded memory and without parsing rows:

- binary: a NUL byte in the first 64 kB (no text export has one);
- no line structure: no line break in the first 64 kB of a CSV (a CSV reader would take
  the whole file for one row, in memory);
- UTF-8 where the spec says a single-byte code page (cp1250): every byte decodes as UTF-8
  and there are multi-byte sequences. A real cp1250 export with Czech letters is practically
  never valid UTF-8 ("ř" is the byte 0xF8, which UTF-8 never uses), while UTF-8 read as
  cp1250 still decodes, into mojibake in every accented letter ("Dvořák" -> "DvoĹ™Ăˇk").

Only CSV is checked for the encoding: an XML file names its own encoding in its declaration.
``looks_mojibake`` (ftfy's detector) then catches text that was already mojibake when it
was written, in either format, row by row while the file is assessed.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from ftfy.badness import BADNESS_RE, is_bad

from core.formats import FileFormat

_HEAD = 64 * 1024
_CHUNK = 1024 * 1024


def first_look(path: Path, fmt: FileFormat) -> str | None:
    """Why the file cannot be an export in ``fmt`` at all, or None."""
    with open(path, "rb") as f:
        head = f.read(_HEAD)
    if b"\0" in head:
        return "binary content (NUL bytes), not a text export"
    if fmt.type != "csv":
        return None
    if len(head) == _HEAD and b"\n" not in head and b"\r" not in head:
        return "no line break in the first 64 kB: not a line-by-line export"
    return _utf8_where_single_byte(path, fmt.encoding)


def _utf8_where_single_byte(path: Path, encoding: str) -> str | None:
    if codecs.lookup(encoding).name.startswith("utf-8"):
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    extra_bytes = 0  # bytes beyond one per character: the multi-byte sequences
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            try:
                extra_bytes += len(chunk) - len(decoder.decode(chunk))
            except UnicodeDecodeError:
                return None  # not UTF-8: it may well be what the spec says
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    if extra_bytes == 0:
        return None  # plain ASCII is valid in both
    return (f"the file is UTF-8 (multi-byte characters throughout), the spec says {encoding}: "
            "read as the spec says it would be mojibake")


# Every alternative of ftfy's badness pattern spans at most 7 characters and holds two adjacent
# non-ASCII characters, or one of the few it flags alone (C1 controls, Œ œ, Ã Â): a match lies
# within _REACH characters of such a "trigger". Czech text has few (Dvořák: none; Třebíč: "íč").
_REACH = 8
# (led by one character class, so that re skips ASCII in C rather than trying two branches
# at every character)
_TRIGGERS = re.compile(r"[^\x00-\x7f](?:[^\x00-\x7f]+|(?<=[\x80-\x9fŒœÃÂ]))")


def looks_mojibake(text: str, parts: Sequence[str] | None = None) -> bool:
    """Whether ``text`` shows text decoded in the wrong code page ("DvoĹ™Ăˇk"): ftfy's
    ``is_bad(text)``, asked only of the stretches around its triggers (the pattern cannot
    match elsewhere), and those answered once per distinct stretch, so that a file's many
    rows with the same town or street cost one scan of ftfy's long pattern, not one each.

    ``parts``, when given, are the values ``text`` joins with one separator each: triggers are
    then looked for in the non-ASCII values only (an ASCII separator cannot be in one)."""
    if text.isascii():
        return False
    offset = 0
    for part in (text,) if parts is None else parts:
        if not part.isascii():
            for trigger in _TRIGGERS.finditer(part):
                start = max(0, offset + trigger.start() - _REACH)
                if _bad_stretch(text[start:offset + trigger.end() + _REACH], start == 0):
                    return True
        offset += len(part) + 1
    return False


@lru_cache(maxsize=65_536)
def _bad_stretch(stretch: str, at_text_start: bool) -> bool:
    """``is_bad`` on a stretch of a longer text: a match found here is one in the text (the
    pattern has no look-around); one prefixed character keeps its ``^`` from matching at a
    stretch that does not start the text."""
    if at_text_start:
        return is_bad(stretch)
    return BADNESS_RE.search("\n" + stretch, 1) is not None
