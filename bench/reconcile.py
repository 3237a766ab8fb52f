"""Reconcile at 10k, 100k and 1M companies over three systems: time per stage, peak memory, quality.

The product's bulk path on polars frames: map (each system's mapping spec through
mappings.frames, the hub's own engine and normalizers, on two worker processes), match
(the Linker with config/hub.yaml's rules), survivorship (reconciliation.survivorship),
diff (reconciliation.diff) and the outbox's idempotency keys. The hub store is not in it:
bench/reconcile_store.py times the store-backed steps at 10k and 100k. Each size runs in a
fresh process whose own peak RSS is reported (the mapping workers' separately); the
estate (hard negatives, 30 % of records without IČO/VAT, drift) is generated once into
.bench/ and reused until the generator changes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

CACHE = Path(__file__).resolve().parent.parent / ".bench" / "reconcile"
SIZES = (10_000, 100_000, 1_000_000)


def run(scale: float = 1.0) -> dict[str, float]:
    print("reconcile: map, match, survivorship, diff and outbox on polars frames; the store: reconcile_store")
    figures: dict[str, float] = {}
    for size in sorted({max(500, int(n * scale)) for n in SIZES}):
        directory = _estate(size)
        out = subprocess.run([sys.executable, "-m", "bench._reconcile_worker", str(directory)],
                             check=True, capture_output=True, text=True)
        for key, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
            figures[f"{size:>9,} companies: {key}"] = value
    return figures


def _estate(size: int) -> Path:
    # A changed generator makes a new estate: figures are never taken from a stale one.
    directory = CACHE / f"n{size}-{_generator_version()}"
    if not (directory / "complete").exists():
        subprocess.run([sys.executable, "-m", "bench._reconcile_data", str(size), str(directory)], check=True)
    return directory


def _generator_version() -> str:
    root = Path(__file__).resolve().parent.parent
    sources = [root / "sandbox" / "generator.py", root / "sandbox" / "names.py", root / "bench" / "_reconcile_data.py"]
    return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:10]
