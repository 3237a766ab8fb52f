"""File parsing: rows per second reading a 1,000,000-row cp1250 ERP CSV (';', decimal comma).

As the SFTP connector takes a downloaded export: ``assess`` (first look at the bytes, every
row read once for counts and ftfy's mojibake check), then ``read_records`` (the rows again,
as RawRecords and RejectedRows); each is timed, and the two together ("file to records").
Raw limits on the same bytes in the same run: Python's ``csv.reader`` over the file decoded
as cp1250 (rows as lists, nothing else), and polars' ``read_csv`` (which reads UTF-8 only:
the cp1250 bytes are transcoded in memory first, inside the figure).
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

from bench._rss import PeakRss
from connectors.base import RawRecord
from connectors.files import FileFormat, assess, read_records

ROWS = 1_000_000
COLUMNS = ["PARTNER_ID", "NAZEV", "ICO", "DIC", "ULICE", "MESTO", "PSC", "ZEME", "EMAIL",
           "TELEFON", "SPLATNOST_DNI", "UVEROVY_LIMIT"]
ERP = FileFormat(encoding="cp1250", delimiter=";")


def _write(path: Path, rows: int) -> None:
    with open(path, "w", encoding="cp1250", newline="") as f:
        writer = csv.writer(f, delimiter=";", lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for n in range(rows):
            writer.writerow([f"P{n:07d}", f"Dvořák a syn {n}; s.r.o.", f"{n:08d}", f"CZ{n:08d}",
                             f"Žižkova {n % 500}", "Třebíč", "674 01", "CZ",
                             f"ucetni{n}@dvorak.cz", "+420 568 123 456", "14", f"{n},50"])


def _assess(path: Path) -> int:
    verdict = assess(path, ERP, "PARTNER_ID", source_name="customers.csv", max_bad_share=0.01)
    assert verdict.refusal is None, verdict.refusal
    return verdict.records


def _read(path: Path) -> int:
    return sum(isinstance(item, RawRecord) for item in
               read_records(path, ERP, "PARTNER_ID", source_name="customers.csv"))


def _csv_reader(path: Path) -> int:
    with open(path, encoding="cp1250", newline="") as f:
        return sum(1 for _ in csv.reader(f, delimiter=";")) - 1


def _polars(path: Path) -> int:
    import polars as pl

    utf8 = path.read_bytes().decode("cp1250").encode("utf-8")
    return pl.read_csv(utf8, separator=";", infer_schema=False).height


def run(scale: float = 1.0) -> dict[str, float]:
    rows = max(1000, int(ROWS * scale))
    figures: dict[str, float] = {"rows": rows}
    with tempfile.TemporaryDirectory(prefix="custhub-bench-") as tmp:
        path = Path(tmp) / "customers.csv"
        _write(path, rows)
        figures["file MB"] = path.stat().st_size / 2**20
        total = 0.0
        for name, step in (("assess", _assess), ("read_records", _read),
                           ("raw csv.reader", _csv_reader), ("raw polars read_csv", _polars)):
            with PeakRss() as memory:
                started = time.perf_counter()
                seen = step(path)
                seconds = time.perf_counter() - started
            assert seen == rows, (name, seen, rows)
            figures[f"{name} rows/s"] = rows / seconds
            figures[f"{name} rss growth MB"] = memory.peak - memory.before
            total += seconds if not name.startswith("raw") else 0.0
        figures["file to records (assess + read) rows/s"] = rows / total
    return figures
