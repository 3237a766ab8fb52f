"""One entry point for reading an export file of any supported format, and its verdict.

``assess`` reads a file once, keeping nothing but counts, and says whether it may be taken
at all: a file past ``max_bad_share`` of bad rows (a wrong encoding, a truncated or garbage
file) is refused as a whole, so that not one of its rows reaches the hub. Only then does
``read_records`` stream it a second time, in pages; memory never depends on the file size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from connectors.base import RawRecord, RejectedRow
from connectors.files.csv_format import FileFormat, UnreadableFile, read_rows, write_rows
from connectors.files.xml_format import read_xml, write_xml

_SAMPLES = 5  # bad rows quoted in a refused file's reason


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


def assess(path: Path, fmt: FileFormat, id_column: str, *, source_name: str,
           max_bad_share: float) -> Verdict:
    records, rejects, unknown_ids = 0, 0, 0
    samples: list[str] = []
    for item in read_records(path, fmt, id_column, source_name=source_name):
        if isinstance(item, RawRecord):
            records += 1
            continue
        if isinstance(item, UnreadableFile):
            return Verdict(records, rejects + 1, f"{item.location}: {item.reason}", False)
        rejects += 1
        unknown_ids += item.record_id is None
        if len(samples) < _SAMPLES:
            samples.append(f"{item.location}: {item.reason}")
    return Verdict(records, rejects, _refusal(records, rejects, max_bad_share, samples),
                   unknown_ids == 0)


def _refusal(records: int, rejects: int, max_share: float, samples: list[str]) -> str | None:
    total = records + rejects
    if total and rejects / total > max_share:
        return (f"{rejects} of {total} rows unreadable ({rejects / total:.0%}), more than the "
                f"configured {max_share:.0%}; first: " + "; ".join(samples))
    return None
