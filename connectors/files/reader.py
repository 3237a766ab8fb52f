"""One entry point for reading an export file of any supported format, and its verdict.

``assess`` reads a file once, keeping nothing but counts, and says whether it may be taken
at all: a file past ``max_bad_share`` of bad rows (a wrong encoding, a truncated or garbage
file) is refused as a whole, so that not one of its rows reaches the hub. Only then does
``read_records`` stream it a second time, in pages; memory never depends on the file size.
Before any row, ``sniff.first_look`` refuses what is no text export at all (NUL bytes, no
line breaks, UTF-8 where the spec says cp1250); while counting, a file whose accented rows
read mostly as mojibake is refused too (``sniff.looks_mojibake``, ftfy's detector).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connectors.base import RawRecord, RejectedRow
from connectors.files.csv_format import FileFormat, UnreadableFile, read_rows, write_rows
from connectors.files.sniff import first_look, looks_mojibake
from connectors.files.xml_format import read_xml, write_xml

_SAMPLES = 5  # bad rows quoted in a refused file's reason
_EARLY_ROWS = 1000  # rows after which a file already past the bad share is refused unread
_MOJIBAKE_MIN = 3  # mojibake rows that, with most accented rows garbled, refuse a file


def read_records(path: Path, fmt: FileFormat, id_column: str, *,
                 source_name: str) -> Iterator[RawRecord | RejectedRow]:
    if fmt.type == "xml":
        return read_xml(path, id_column, source_name=source_name)
    return read_rows(path, fmt, id_column, source_name=source_name)


def write_records(path: Path, fmt: FileFormat, columns: list[str],
                  rows: Iterable[Mapping[str, object]]) -> int:
    writer = write_xml if fmt.type == "xml" else write_rows
    return writer(path, fmt, columns, rows)


@dataclass(frozen=True)
class Verdict:
    records: int
    rejects: int
    refusal: str | None  # why the file as a whole is not taken; None = take it
    ids_complete: bool  # every row's id is known (a bad row may hide one)

    @property
    def rows(self) -> int:
        """Data rows read (records and rejects): what a manifest's ``rows N`` counts."""
        return self.records + self.rejects


@dataclass
class _Tally:
    records: int = 0
    rejects: int = 0
    unknown_ids: int = 0
    accented: int = 0  # records with any non-ASCII text
    mojibake: int = 0  # of those, how many read as mojibake
    samples: list[str] = field(default_factory=list)

    def add(self, item: RawRecord | RejectedRow) -> None:
        if isinstance(item, RawRecord):
            self.records += 1
            parts = _texts(item.payload)
            text = "\x1f".join(parts)
            self.accented += not text.isascii()
            if looks_mojibake(text, parts):
                self.mojibake += 1
                self._sample(f"{item.location}: mojibake {_excerpt(text)!r}")
            return
        self.rejects += 1
        self.unknown_ids += item.record_id is None
        self._sample(f"{item.location}: {item.reason}")

    def _sample(self, text: str) -> None:
        if len(self.samples) < _SAMPLES:
            self.samples.append(text)

    def verdict(self, refusal: str | None) -> Verdict:
        return Verdict(self.records, self.rejects, refusal, self.unknown_ids == 0)


def assess(path: Path, fmt: FileFormat, id_column: str, *, source_name: str,
           max_bad_share: float) -> Verdict:
    """Read the file once for counts only; past ``_EARLY_ROWS`` rows a file already past
    ``max_bad_share`` is refused without reading the rest (a 50 MB garbage file)."""
    refusal = first_look(path, fmt)
    if refusal is not None:
        return Verdict(0, 0, refusal, False)
    tally = _Tally()
    for item in read_records(path, fmt, id_column, source_name=source_name):
        if isinstance(item, UnreadableFile):
            return Verdict(tally.records, tally.rejects + 1, f"{item.location}: {item.reason}",
                           False)
        tally.add(item)
        seen = tally.records + tally.rejects
        if seen == _EARLY_ROWS and tally.rejects / seen > max_bad_share:
            return tally.verdict(_bad_rows(tally, max_bad_share, f"of the first {seen}"))
    return tally.verdict(_refusal(tally, max_bad_share))


def _refusal(tally: _Tally, max_share: float) -> str | None:
    total = tally.records + tally.rejects
    if total and tally.rejects / total > max_share:
        return _bad_rows(tally, max_share, f"of {total}")
    # A wrong code page garbles every accented row; one odd name in a good file does not.
    if tally.mojibake >= min(_MOJIBAKE_MIN, tally.accented) and \
            tally.mojibake * 2 >= tally.accented > 0:
        return (f"{tally.mojibake} of {tally.accented} rows with accented text read as mojibake "
                "(text decoded in the wrong code page); first: " + "; ".join(tally.samples))
    return None


def _bad_rows(tally: _Tally, max_share: float, of: str) -> str:
    seen = tally.records + tally.rejects
    return (f"{tally.rejects} {of} rows unreadable ({tally.rejects / seen:.0%}), more than the "
            f"configured {max_share:.0%}; first: " + "; ".join(tally.samples))


def _texts(payload: Mapping[str, object]) -> list[str]:
    """The record's text values (a CSV row's are all text)."""
    values = list(payload.values())
    if all(type(v) is str for v in values):
        return values  # type: ignore[return-value]
    return [v for v in values if isinstance(v, str)]


def _excerpt(text: str) -> str:
    return text.replace("\x1f", " ")[:60]
