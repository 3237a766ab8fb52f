"""Generate a bench estate once, in parts, into parquet files (raw system records and the truth).

Run as a subprocess so that the generator's Python objects never count towards the
reconcile's peak memory: ``python -m bench._reconcile_data N DIRECTORY``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from sandbox.generator import Options, generate_chunks

OPTIONS = Options(hard_negatives=0.1, without_ids=0.3, varied_names=True)
PARTS = {"crm": "crm_accounts", "accounting": "accounting_rows", "erp": "erp_partners"}
CHUNK = 50_000


def write(n: int, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for part, estate in enumerate(generate_chunks(n, CHUNK, seed=5, options=OPTIONS)):
        for system, attribute in PARTS.items():
            rows = [{k: None if v is None else str(v) for k, v in r.items()} for r in getattr(estate, attribute)]
            pl.DataFrame(rows).write_parquet(directory / f"{system}-{part:04d}.parquet")
        keys = estate.truth.records
        pl.DataFrame({"system": [s for s, _ in keys], "record_id": [r for _, r in keys],
                      "entity": list(keys.values())}).write_parquet(directory / f"truth-{part:04d}.parquet")
    (directory / "complete").touch()


if __name__ == "__main__":
    write(int(sys.argv[1]), Path(sys.argv[2]))
