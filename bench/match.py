"""``custhub match`` over 500,000 records (scale 1): mapping time next to matching time.

Two CSV files as users hand them in (the CRM's export in UTF-8 with ',', the ERP's in
cp1250 with ';'), 250k companies each, from the reconcile bench's cached estate. The worker
(a fresh process, so the peak memory is its own) times what ``hub.match_files.match_files``
does: reading and mapping the files column-wise, then linking them. Next to it, in the same
run: the files read by ``csv.DictReader`` alone (the floor under mapping), and the row-by-row
``map_record`` the command used before, on a sample, as microseconds a row.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import polars as pl

from bench.reconcile import _estate

RECORDS = 500_000
FILES = {"crm": ("utf-8", ","), "erp": ("cp1250", ";")}
SAMPLE = 20_000


def run(scale: float = 1.0) -> dict[str, float]:
    companies = max(1_000, int(RECORDS * scale) // len(FILES))
    with tempfile.TemporaryDirectory(prefix="custhub-bench-match-") as scratch:
        paths = _write_files(_estate(companies), Path(scratch))
        out = subprocess.run([sys.executable, "-m", "bench.match", *[f"{p}={s}" for s, p in paths.items()]],
                             check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _write_files(estate: Path, scratch: Path) -> dict[str, Path]:
    paths = {}
    for system, (encoding, delimiter) in FILES.items():
        frame = pl.concat([pl.read_parquet(p) for p in sorted(estate.glob(f"{system}-*.parquet"))])
        paths[system] = scratch / f"{system}.csv"
        with paths[system].open("w", encoding=encoding, errors="replace", newline="") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            writer.writerow(frame.columns)
            writer.writerows(frame.iter_rows())
    return paths


def worker(inputs: list[str]) -> dict[str, float]:
    from bench._stages import Stages
    from hub.config import load_config
    from hub.match_files import _read, parse_input
    from mappings.engine import load_spec, map_record
    from mappings.errors import MappingError
    from mappings.frames import shutdown_workers
    from reconciliation.matching import Linker

    config = load_config()
    parsed = [parse_input(i) for i in inputs]
    figures: dict[str, float] = {}
    started = time.perf_counter()
    read = 0
    for item in parsed:
        spec = load_spec(item.spec)
        with item.path.open(encoding=spec.format.encoding if spec.format else "utf-8-sig", newline="") as handle:
            read += sum(1 for _ in csv.DictReader(handle, delimiter=spec.format.delimiter if spec.format else ","))
    figures["raw: csv.DictReader alone s"] = time.perf_counter() - started
    item = parsed[0]
    spec = load_spec(item.spec)
    with item.path.open(encoding=spec.format.encoding if spec.format else "utf-8-sig", newline="") as handle:
        sample = list(islice(csv.DictReader(handle), SAMPLE))
    started = time.perf_counter()
    for payload in sample:
        try:
            map_record(spec, payload)
        except MappingError:
            pass
    figures["row by row (map_record, before) us a row"] = (time.perf_counter() - started) / len(sample) * 1e6
    stages = Stages()
    frames, rejected = [], 0
    for item in parsed:
        for mapped, bad in _read(item, load_spec(item.spec)):
            frames.append(mapped)
            rejected += len(bad)
    records = pl.concat(frames)
    stages.lap("map (read + map_frame)")
    for item in parsed:  # the same with two processes normalizing values (--workers 2)
        for _ in _read(item, load_spec(item.spec), workers=2):
            pass
    shutdown_workers()
    stages.lap("map with 2 workers")
    result = Linker(config.matching).link(records)
    stages.lap("match (Linker)")
    figures |= stages.done()
    figures["total s"] -= figures["map with 2 workers s"]  # one mapping counts: map + match
    figures |= {"rows read": read, "records mapped": records.height, "rows rejected": rejected,
                "clusters": result.clusters["cluster"].n_unique(),
                "map us a row": figures["map (read + map_frame) s"] / read * 1e6,
                "map share of map+match %": 100 * figures["map (read + map_frame) s"] / figures["total s"]}
    return figures


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1:])))
