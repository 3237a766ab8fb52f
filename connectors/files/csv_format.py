"""Delimited text files, read and written one row at a time.

The reader never aborts a file: a line that does not decode in the declared encoding,
or a row with the wrong number of columns, becomes a ``RejectedRow`` carrying its line
number and raw text, and reading goes on with the next row. Values stay strings:
what "150000,50" means is for ``mappings/`` to say, not for the transport; the writer, in
turn, writes cells already spelled by the system's spec (``mappings.writeback``) and only
encodes them. ``FileFormat`` is the one description of a system's files (``core.formats``),
shared with the mapping spec that states it.
"""

from __future__ import annotations

import csv
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO, Any

from connectors.base import RawRecord, RejectedRow
from core.formats import Encoding, FileFormat

__all__ = ["Encoding", "FileFormat", "UnreadableFile", "cell_text", "encodable", "read_rows",
           "write_rows"]


@dataclass(frozen=True)
class UnreadableFile(RejectedRow):
    """A reject that stands for the whole file (no header, not well-formed XML, a DTD):
    no row of such a file can be trusted, so none is taken."""


_BLOCK = 64 * 1024  # bytes decoded at once, cut after a line break (memory stays well under 1 MB)


class _Lines:
    """The file's lines for ``csv.reader``: decoded a block at a time, and line by line only in
    a block that does not decode whole, so one bad byte still costs one line, not the file.

    csv pulls the lines through a C-level chain of per-block lists; which lines made the row it
    just returned is told by its ``line_num`` (``take_row``), so a rejected row can be stored
    exactly as it was written and every row knows its physical line number.
    """

    def __init__(self, binary: IO[bytes], encoding: str):
        self._binary, self._encoding = binary, encoding
        self.physical = 0  # physical lines read so far
        self.handed = 0  # lines handed to csv so far
        self.taken = 0  # lines of rows already returned (csv's line_num at the last row)
        self._skipped: list[int] = []  # per undecodable line: the lines handed before it
        self.undecodable: list[tuple[int, int, str, str]] = []  # (handed before, line, raw, why)
        self._recent: list[tuple[int, list[str]]] = []  # (index of its first line, lines)

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(self._blocks())

    def _blocks(self) -> Iterator[list[str]]:
        rest = b""
        while chunk := self._binary.read(_BLOCK):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            rest = chunk[cut:]
            if cut:
                yield self._keep(self._decode(chunk[:cut]))
        if rest:
            yield self._keep(self._decode(rest))

    def _keep(self, lines: list[str]) -> list[str]:
        """Remember the block (a rejected row quotes its lines); forget the ones before the
        row csv is reading now."""
        self._recent = [(first, block) for first, block in self._recent
                        if first + len(block) > self.taken]
        self._recent.append((self.handed, lines))
        self.handed += len(lines)
        return lines

    def _decode(self, block: bytes) -> list[str]:
        try:
            text = block.decode(self._encoding)
        except UnicodeDecodeError:
            return self._one_by_one(block)
        if "\ufeff" in text and self._encoding == "utf-8-sig":  # a BOM heads each line decoded
            return self._one_by_one(block)
        parts = text.split("\n")
        last = parts.pop()  # "" when the block ends with its line break
        lines = [part + "\n" for part in parts]
        if last:
            lines.append(last)
        self.physical += len(lines)
        return lines

    def _one_by_one(self, block: bytes) -> list[str]:
        lines: list[str] = []
        for raw in _split(block):
            self.physical += 1
            try:
                lines.append(raw.decode(self._encoding))
            except UnicodeDecodeError as e:
                shown = raw.decode("latin-1").rstrip("\r\n")  # lossless, for a person to read
                before = self.handed + len(lines)
                self._skipped.append(before)
                self.undecodable.append((before, self.physical, shown,
                                         f"not {self._encoding}: {e.reason}"))
        return lines

    def line_number(self, index: int) -> int:
        """The physical line number of the ``index``-th line handed to csv (0-based)."""
        return index + 1 + bisect_right(self._skipped, index) if self._skipped else index + 1

    def take_row(self, consumed: int) -> tuple[int, int, int]:
        """(first physical line, first and end index) of the row csv just returned, having
        consumed ``consumed`` lines in all."""
        start, self.taken = self.taken, consumed
        if consumed == start:
            return self.physical, start, consumed
        if self._skipped:
            return self.line_number(start), start, consumed
        return start + 1, start, consumed

    def text(self, start: int, end: int) -> str:
        """The raw text of handed lines [start, end), line breaks at its end stripped."""
        out = [block[max(0, start - first):end - first] for first, block in self._recent
               if first < end and first + len(block) > start]
        return "".join(chain.from_iterable(out)).rstrip("\r\n")

    def bad_before(self, consumed: int | None) -> list[tuple[int, str, str]]:
        """Undecodable lines csv has gone past (all, at the end): (line, raw, reason)."""
        due = [u for u in self.undecodable if consumed is None or u[0] < consumed]
        self.undecodable = self.undecodable[len(due):]
        return [(line, raw, reason) for _, line, raw, reason in due]


def _split(block: bytes) -> list[bytes]:
    """Lines cut after each b"\\n" only, as iterating a binary file cuts them."""
    parts = block.split(b"\n")
    last = parts.pop()
    return [part + b"\n" for part in parts] + ([last] if last else [])


@contextmanager
def _open_binary(source: IO[bytes] | Path | str) -> Iterator[IO[bytes]]:
    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            yield f
    else:
        yield source


def read_rows(source: IO[bytes] | Path | str, fmt: FileFormat, id_column: str, *,
              source_name: str | None = None) -> Iterator[RawRecord | RejectedRow]:
    """Stream a file as RawRecords (payload = {column: str}) and RejectedRows, in file order."""
    name = source_name or (Path(source).name if isinstance(source, (str, Path)) else "stream")
    with _open_binary(source) as binary:
        lines = _Lines(binary, fmt.encoding)
        reader = csv.reader(lines, **fmt.csv_options())
        rows = _rows(reader, lines)
        columns = _header(rows, lines, reader) if fmt.header else list(fmt.columns or ())
        header_line, start, end = lines.take_row(reader.line_num)
        if columns is None or id_column not in columns:
            # Without a readable header no row can be trusted: reject the file as one unit.
            yield UnreadableFile(raw=lines.text(start, end), location=f"{name}:{header_line}",
                                 reason=f"no readable header with the id column {id_column!r}")
            return
        for row in rows:
            if lines.undecodable:
                yield from _undecodable(lines.bad_before(reader.line_num), name)
            first, start, end = lines.take_row(reader.line_num)
            if row is None:
                yield RejectedRow(lines.text(start, end), "malformed CSV",
                                  location=f"{name}:{first}")
            else:
                yield _record(row, columns, id_column, first, lambda: lines.text(start, end), name)
        yield from _undecodable(lines.bad_before(None), name)


def _header(rows: Iterator[list[str] | None], lines: _Lines,
            reader: Any) -> list[str] | None:
    row = next(rows, None)
    if row is None or lines.bad_before(reader.line_num):  # a line before it did not decode
        return None
    return row


def _rows(reader: Iterator[list[str]], lines: _Lines) -> Iterator[list[str] | None]:
    """csv rows without the blank ones; None for a row csv itself could not parse."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield None
            continue
        if row:
            yield row
        else:
            lines.take_row(reader.line_num)  # type: ignore[attr-defined]


def _undecodable(bad: list[tuple[int, str, str]], name: str) -> Iterator[RejectedRow]:
    for number, raw, reason in bad:
        yield RejectedRow(raw=raw, reason=reason, location=f"{name}:{number}")


def _record(row: list[str], columns: list[str], id_column: str, line: int,
            raw: Callable[[], str], name: str) -> RawRecord | RejectedRow:
    location = f"{name}:{line}"
    if len(row) != len(columns):
        reason = f"{len(row)} columns where the header has {len(columns)}"
        return RejectedRow(raw=raw(), reason=reason, location=location)
    payload = dict(zip(columns, row))
    record_id = payload[id_column].strip()
    if not record_id:
        return RejectedRow(raw=raw(), reason=f"empty {id_column}", location=location)
    return RawRecord(record_id, payload, None, location)


def encodable(fmt: FileFormat, text: str) -> bool:
    """Whether ``text`` can be written in the file's encoding (cp1250 has no emoji)."""
    try:
        text.encode(fmt.encoding)
    except UnicodeEncodeError:
        return False
    return True


def write_rows(path: Path | str, fmt: FileFormat, columns: list[str],
               rows: Iterable[Mapping[str, object]]) -> int:
    """Write a header (if the format has one) and ``rows``; None and missing cells are empty.

    Returns the number of data rows written. Raises UnicodeEncodeError for a value the
    encoding cannot hold: check with ``encodable`` first where a row may be refused.
    """
    count = 0
    with open(path, "w", encoding=fmt.encoding, newline="") as f:
        writer = csv.writer(f, lineterminator=fmt.line_terminator, **fmt.csv_options())
        if fmt.header:
            writer.writerow(columns)
        for row in rows:
            writer.writerow([cell_text(row.get(c)) for c in columns])
            count += 1
    return count


def cell_text(value: object) -> str:
    """A cell as written: text as given, a whole number in digits, None as empty.

    A Decimal, float or date has no spelling of its own in a file (decimal comma or point?
    which date order?): the system's spec spells it (``mappings.writeback``), exactly once,
    and one that reaches the writer unspelled is a programming error, not a guess.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"a {type(value).__name__} cell must be spelled by the system's spec "
                    f"before it is written: {value!r}")
