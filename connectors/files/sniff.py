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
from pathlib import Path

from ftfy.badness import is_bad

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


def looks_mojibake(text: str) -> bool:
    """Whether ``text`` shows text decoded in the wrong code page ("DvoĹ™Ăˇk")."""
    return not text.isascii() and is_bad(text)
