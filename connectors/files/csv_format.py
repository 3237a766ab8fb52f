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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from connectors.base import RawRecord, RejectedRow
from core.formats import Encoding, FileFormat

__all__ = ["Encoding", "FileFormat", "UnreadableFile", "cell_text", "encodable", "read_rows",
           "write_rows"]


@dataclass(frozen=True)
class UnreadableFile(RejectedRow):
    """A reject that stands for the whole file (no header, not well-formed XML, a DTD):
    no row of such a file can be trusted, so none is taken."""


class _Lines:
    """Decodes one physical line at a time, so one bad byte costs one line, not the file.

    ``csv.reader`` pulls from this iterator; the lines it consumed for the current row are
    kept so that a rejected row can be stored exactly as it was written.
    """

    def __init__(self, binary: IO[bytes], encoding: str):
        self._binary, self._encoding = binary, encoding
        self.number = 0  # physical line number of the last line handed to csv
        self.pending: list[tuple[int, str]] = []  # lines of the row being read
        self.undecodable: list[tuple[int, str, str]] = []  # (line, raw text, reason)

    def __iter__(self) -> Iterator[str]:
        for self.number, raw in enumerate(self._binary, start=1):
            try:
                text = raw.decode(self._encoding)
            except UnicodeDecodeError as e:
                shown = raw.decode("latin-1").rstrip("\r\n")  # lossless, for a person to read
                self.undecodable.append((self.number, shown, f"not {self._encoding}: {e.reason}"))
                continue
            self.pending.append((self.number, text))
            yield text

    def take_row(self) -> tuple[int, str]:
        """The first line number and the raw text of the row csv just returned."""
        first = self.pending[0][0] if self.pending else self.number
        raw = "".join(text for _, text in self.pending).rstrip("\r\n")
        self.pending = []
        return first, raw


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
        rows = _rows(csv.reader(lines, **fmt.csv_options()), lines)
        columns = _header(rows, lines) if fmt.header else list(fmt.columns or ())
        header_line, header_raw = lines.take_row()
        if columns is None or id_column not in columns:
            # Without a readable header no row can be trusted: reject the file as one unit.
            yield UnreadableFile(raw=header_raw, location=f"{name}:{header_line}",
                                 reason=f"no readable header with the id column {id_column!r}")
            return
        for row in rows:
            yield from _undecodable(lines, name)
            if row is None:
                first, raw = lines.take_row()
                yield RejectedRow(raw, "malformed CSV", location=f"{name}:{first}")
            else:
                yield _record(row, columns, id_column, lines.take_row(), name)
        yield from _undecodable(lines, name)


def _header(rows: Iterator[list[str] | None], lines: _Lines) -> list[str] | None:
    row = next(rows, None)
    if row is None or lines.undecodable:  # a line before the header did not decode
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
            lines.take_row()


def _undecodable(lines: _Lines, name: str) -> Iterator[RejectedRow]:
    for number, raw, reason in lines.undecodable:
        yield RejectedRow(raw=raw, reason=reason, location=f"{name}:{number}")
    lines.undecodable = []


def _record(row: list[str], columns: list[str], id_column: str, where: tuple[int, str],
            name: str) -> RawRecord | RejectedRow:
    line, raw = where
    location = f"{name}:{line}"
    if len(row) != len(columns):
        reason = f"{len(row)} columns where the header has {len(columns)}"
        return RejectedRow(raw=raw, reason=reason, location=location)
    payload = dict(zip(columns, row, strict=True))
    record_id = payload[id_column].strip()
    if not record_id:
        return RejectedRow(raw=raw, reason=f"empty {id_column}", location=location)
    return RawRecord(record_id=record_id, payload=payload, location=location)


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
