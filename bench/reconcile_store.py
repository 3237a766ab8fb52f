"""The product path over the hub store at 10k and 100k companies: stage, map, reconcile.

What the nightly DAG runs after extraction, on the embedded SQLite store: stage the raw
records (hub.pipeline.stage), map them (hub.pipeline.map), then match, build golden
records, diff and fill the outbox in one transaction (hub.pipeline.reconcile). Each size
runs in a fresh process whose own peak RSS is reported; the estate is the one
bench/reconcile.py generates and caches.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.reconcile import _estate

SIZES = (10_000, 100_000)


def run(scale: float = 1.0) -> dict[str, float]:
    figures: dict[str, float] = {}
    for size in sorted({max(500, int(n * scale)) for n in SIZES}):
        out = subprocess.run([sys.executable, "-m", "bench._reconcile_store_worker", str(_estate(size))],
                             check=True, capture_output=True, text=True)
        for key, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
            figures[f"{size:>9,} companies: {key}"] = value
    return figures
