"""The CSV reader decodes a block of lines at a time; it must give exactly what decoding line
by line gave: the same records, the same rejects with the same line numbers, raw text and
reasons, in the same order, across block boundaries, bad bytes, BOMs and multi-line rows.

``_line_by_line`` is the reader as it was before blocks (kept here as the reference)."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from typing import IO

import pytest

from connectors.base import RawRecord, RejectedRow
from connectors.files.csv_format import FileFormat, UnreadableFile, read_rows


class _OneLineAtATime:
    def __init__(self, binary: IO[bytes], encoding: str):
        self._binary, self._encoding = binary, encoding
        self.number, self.pending, self.undecodable = 0, [], []

    def __iter__(self) -> Iterator[str]:
        for self.number, raw in enumerate(self._binary, start=1):
            try:
                text = raw.decode(self._encoding)
            except UnicodeDecodeError as e:
                shown = raw.decode("latin-1").rstrip("\r\n")
                self.undecodable.append((self.number, shown, f"not {self._encoding}: {e.reason}"))
                continue
            self.pending.append((self.number, text))
            yield text

    def take_row(self) -> tuple[int, str]:
        first = self.pending[0][0] if self.pending else self.number
        raw = "".join(text for _, text in self.pending).rstrip("\r\n")
        self.pending = []
        return first, raw


def _line_by_line(data: bytes, fmt: FileFormat, id_column: str, name: str
                  ) -> Iterator[RawRecord | RejectedRow]:
    lines = _OneLineAtATime(io.BytesIO(data), fmt.encoding)
    reader = csv.reader(lines, **fmt.csv_options())

    def rows() -> Iterator[list[str] | None]:
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

    def bad() -> Iterator[RejectedRow]:
        for number, raw, reason in lines.undecodable:
            yield RejectedRow(raw=raw, reason=reason, location=f"{name}:{number}")
        lines.undecodable = []

    it = rows()
    header = next(it, None)
    columns = None if header is None or lines.undecodable else header
    line, raw = lines.take_row()
    if columns is None or id_column not in columns:
        yield UnreadableFile(raw=raw, location=f"{name}:{line}",
                             reason=f"no readable header with the id column {id_column!r}")
        return
    for row in it:
        yield from bad()
        first, raw = lines.take_row()
        if row is None:
            yield RejectedRow(raw, "malformed CSV", location=f"{name}:{first}")
        elif len(row) != len(columns):
            yield RejectedRow(raw=raw, reason=f"{len(row)} columns where the header has "
                              f"{len(columns)}", location=f"{name}:{first}")
        elif not row[columns.index(id_column)].strip():
            yield RejectedRow(raw=raw, reason=f"empty {id_column}", location=f"{name}:{first}")
        else:
            yield RawRecord(record_id=row[columns.index(id_column)].strip(),
                            payload=dict(zip(columns, row)), location=f"{name}:{first}")
    yield from bad()


def _cell(rng: random.Random, encoding: str) -> bytes:
    text = rng.choice(["Dvořák a syn", "Třebíč", "x", "", " ", "Žižkova 5", "150000,50",
                       '"quoted; with ""quotes"""', '"two\r\nlines"', '"one\nmore"', "a\\b",
                       "\x1f", "\u2028 odd break"])
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = b"?"
    odd = rng.random()
    if odd < 0.01:
        data += b"\x98\x81" if encoding == "cp1250" else b"\xff\xfe"  # undecodable
    elif odd < 0.015 and encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + data  # a BOM, wherever it is
    return data


def _file(rng: random.Random, encoding: str, rows: int) -> bytes:
    out = [b"ID;NAME;CITY\r\n"]
    for n in range(rows):
        cells = [f"P{n}".encode() if rng.random() > 0.01 else b" ",
                 *(_cell(rng, encoding) for _ in range(2 if rng.random() > 0.01 else 3))]
        ending = rng.choice([b"\r\n", b"\n", b"\n\n", b"\r\n"])
        out.append(b";".join(cells) + ending)
        if rng.random() < 0.002:
            out.append(b'"never closed;' * 3 + b"\n")
    return b"".join(out)


@pytest.mark.parametrize("encoding", ["cp1250", "utf-8", "utf-8-sig"])
@pytest.mark.parametrize("seed", [1, 2])
def test_blocks_read_exactly_as_lines_did(encoding: str, seed: int) -> None:
    data = _file(random.Random(seed), encoding, 15_000)  # several 64 kB blocks
    fmt = FileFormat(encoding=encoding, delimiter=";")
    expected = list(_line_by_line(data, fmt, "ID", "f.csv"))
    got = list(read_rows(io.BytesIO(data), fmt, "ID", source_name="f.csv"))
    assert got == expected
    reasons = {item.reason.split(":")[0].split(" ")[0] for item in got
               if isinstance(item, RejectedRow)}
    assert {"not", "empty", "1", "4"} <= reasons  # undecodable, no id, too few, too many
    assert sum(isinstance(item, RawRecord) for item in got) > 4000


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\x98\nID;X\n1;a\n", b"ID;X\n1;a", b"ID;X",
                                  b"X;Y\n1;2\n", b'ID;X\n"1;a\n'])
def test_edges_read_exactly_as_lines_did(data: bytes) -> None:
    fmt = FileFormat(encoding="cp1250", delimiter=";")
    assert list(read_rows(io.BytesIO(data), fmt, "ID", source_name="f")) == \
        list(_line_by_line(data, fmt, "ID", "f"))
