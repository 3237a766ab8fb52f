"""The run report over a store holding 1,000,000 discrepancies (scale 1), SQLite and PostgreSQL.

Times ``build_report`` (what the CLI's summary reads) and ``write_run_report`` (the page, one
CSV per table, the workbook), wall and CPU seconds of this process (polars' threads count;
PostgreSQL's server does not), and prints the sizes of what it wrote and the peak memory of
the report. Next to it, in the same process, the raw limits of the same work (CPU s): the
run's discrepancies read by the driver alone, and rows of the same shape (one per differing
company field, 15 cells) written by ``csv.writer`` alone, by openpyxl's write-only mode alone
and XlsxWriter's constant_memory mode alone (the libraries made for it: a Python call or two
per cell), by the report's SpreadsheetML writer a row of Python values at a time
(``SheetWriter.append``) and by polars expressions a column at a time (``rows_xml``, what
the discrepancies sheet is written with). Each store runs in a fresh process
(``python -m bench.report WORKER``).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import sqlalchemy as sa
import xlsxwriter
from openpyxl import Workbook

from bench._rss import PeakRss
from reconciliation.report_files import xlsx_text
from reconciliation.report_xlsx import XlsxBook, row_numbers, rows_xml

DISCREPANCIES = 1_000_000
PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "custhub_bench_report"


def run(scale: float = 1.0) -> dict[str, float]:
    size = max(1_000, int(DISCREPANCIES * scale))
    figures: dict[str, float] = {}
    for store in ("sqlite", "postgresql"):
        if store == "postgresql" and not _pg_reachable():
            continue
        out = subprocess.run([sys.executable, "-m", "bench.report", store, str(size)],
                             check=True, capture_output=True, text=True)
        for key, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
            figures[f"{store}: {key}"] = value
    return figures


def _pg_reachable() -> bool:
    try:
        with sa.create_engine(PG_ADMIN_URL).connect():
            return True
    except sa.exc.OperationalError:
        return False


def worker(store: str, size: int) -> dict[str, float]:
    from bench import _report_store
    from hub.config import load_config
    from hub.pipeline.context import RunContext, open_store
    from hub.pipeline.report import build_report, write_run_report
    from hub.pipeline.runs import start_run

    with tempfile.TemporaryDirectory(prefix="custhub-bench-report-") as scratch, _store_url(store, scratch) as url:
        config = load_config()
        config = config.model_copy(update={"store": config.store.model_copy(update={"url": url}),
                                           "report_dir": str(Path(scratch) / "reports")})
        engine = open_store(config)
        ctx = RunContext(config, engine, start_run(engine, "nightly"))
        started = time.perf_counter()
        loaded = _report_store.load(engine, ctx.run_id, size)
        figures: dict[str, float] = {"discrepancies": loaded["discrepancy"],
                                     "companies": loaded["golden_record"],
                                     "store rows loaded": sum(loaded.values()),
                                     "store load s (setup)": time.perf_counter() - started}
        with PeakRss() as memory:
            started, cpu = time.perf_counter(), time.process_time()
            report = build_report(ctx)
            figures["build_report s"] = time.perf_counter() - started
            figures["build_report CPU s"] = time.process_time() - cpu
            started, cpu = time.perf_counter(), time.process_time()
            page = write_run_report(ctx)
            figures["write_run_report s"] = time.perf_counter() - started
            figures["write_run_report CPU s"] = time.process_time() - cpu
        figures["report peak RSS MB"] = memory.peak
        figures["report RSS growth MB"] = memory.peak - memory.before
        figures["differing company fields"] = report.differing
        figures["rows on the page"] = len(report.diff_rows)
        figures["report.html MB"] = page.stat().st_size / 2**20
        figures["report.xlsx MB"] = (page.parent / "report.xlsx").stat().st_size / 2**20
        figures["discrepancies.csv MB"] = (page.parent / "discrepancies.csv").stat().st_size / 2**20
        figures |= _raw_limits(engine, ctx.run_id, report.differing, Path(scratch))
        engine.dispose()
    return figures


def _raw_limits(engine: sa.Engine, run_id: str, rows: int, scratch: Path) -> dict[str, float]:
    figures = {}
    started = time.process_time()
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=5_000).execute(sa.text(
            "SELECT * FROM discrepancy WHERE run_id = :run ORDER BY hub_id, field, system"), {"run": run_id})
        read = sum(len(part) for part in result.partitions())
    figures["raw: driver reads the discrepancies CPU s"] = time.process_time() - started
    started = time.process_time()
    with (scratch / "raw.csv").open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, delimiter=";").writerows(_cells(rows))
    figures["raw: csv.writer alone CPU s"] = time.process_time() - started
    started = time.process_time()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("raw")
    for row in _cells(rows):
        sheet.append(row)
    book.save(scratch / "raw.xlsx")
    figures["raw: openpyxl write-only alone CPU s"] = time.process_time() - started
    started = time.process_time()
    xbook = xlsxwriter.Workbook(scratch / "raw-xlsxwriter.xlsx", {"constant_memory": True})
    xsheet = xbook.add_worksheet("raw")
    for n, row in enumerate(_cells(rows)):
        xsheet.write_row(n, 0, row)
    xbook.close()
    figures["raw: XlsxWriter constant_memory alone CPU s"] = time.process_time() - started
    started = time.process_time()
    ours = XlsxBook(scratch / "raw-streamed.xlsx")
    ours_sheet = ours.add_sheet("raw", [str(n) for n in range(15)], [12] * 15)
    for row in _cells(rows):
        ours_sheet.append(row)
    ours.save()
    figures["raw: the report's SpreadsheetML writer, row API CPU s"] = time.process_time() - started
    frame = pl.DataFrame([list(c) for c in zip(*_cells(rows), strict=True)],
                         schema=[f"c{n}" for n in range(15)], orient="col")
    started = time.process_time()
    ours = XlsxBook(scratch / "raw-columns.xlsx")
    ours.add_frame_sheet("raw", [str(n) for n in range(15)], [12] * 15, _chunks(frame))
    ours.save()
    figures["raw: the report's SpreadsheetML writer, polars columns CPU s"] = time.process_time() - started
    assert read > 0
    return figures


def _chunks(frame: pl.DataFrame, size: int = 25_000):  # type: ignore[no-untyped-def]
    cells = [xlsx_text(pl.col(c)) for c in frame.columns]
    for start in range(0, frame.height, size):
        chunk = frame.slice(start, size)
        yield chunk.with_columns(row_numbers(start + 2)).select(rows_xml(cells).str.join("").cast(pl.Binary)).item(), \
            chunk.height


def _cells(rows: int):  # type: ignore[no-untyped-def]
    """Rows shaped like the discrepancies sheet: hub id, company, field, three cells per system,
    golden value, source, rule."""
    for n in range(rows):
        yield [f"H{n:09d}", f"Firma {n} s.r.o.", "street", f"Hlavní {n % 500} (old)", "differs", "sent",
               f"Hlavní {n % 500}", "source", "", f"Hlavní {n % 500}", "agrees", "",
               f"Hlavní {n % 500}", "accounting", "source_priority"]


class _store_url:
    """A fresh store: a SQLite file in the scratch directory, or a PostgreSQL database dropped after."""

    def __init__(self, store: str, scratch: str):
        self.store, self.scratch = store, scratch

    def __enter__(self) -> str:
        if self.store == "sqlite":
            return f"sqlite:///{self.scratch}/hub.db"
        self._admin("DROP DATABASE IF EXISTS")
        self._admin("CREATE DATABASE")
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DATABASE}"

    def __exit__(self, *exc: object) -> None:
        if self.store == "postgresql":
            self._admin("DROP DATABASE IF EXISTS")

    def _admin(self, statement: str) -> None:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f"{statement} {PG_DATABASE}"))
        engine.dispose()


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1], int(sys.argv[2]))))
