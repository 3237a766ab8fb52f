"""File parsing: rows per second reading a 1,000,000-row cp1250 ERP CSV (';', decimal comma).

Reads with ``connectors.files.read_records`` as the SFTP connector does (one decode per
physical line, so one bad byte costs one row), and reports peak memory while reading.
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

from bench._rss import PeakRss
from connectors.base import RawRecord
from connectors.files import FileFormat, read_records

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


def run(scale: float = 1.0) -> dict[str, float]:
    rows = max(1000, int(ROWS * scale))
    with tempfile.TemporaryDirectory(prefix="custhub-bench-") as tmp:
        path = Path(tmp) / "customers.csv"
        _write(path, rows)
        size_mb = path.stat().st_size / 2**20
        with PeakRss() as memory:
            started = time.perf_counter()
            good = sum(isinstance(item, RawRecord) for item in
                       read_records(path, ERP, "PARTNER_ID", source_name="customers.csv"))
            seconds = time.perf_counter() - started
    assert good == rows, (good, rows)
    return {"rows": rows, "file_mb": size_mb, "rows_per_second": rows / seconds,
            "mb_per_second": size_mb / seconds, "rss_growth_mb": memory.peak - memory.before}
