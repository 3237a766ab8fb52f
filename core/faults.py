"""Named fault points: where a test may kill the process, to prove a crash loses and doubles nothing.

A fault point is a no-op unless the environment variable ``CUSTHUB_FAULT_POINTS`` names it; only
the fault-injection tests set it. ``CUSTHUB_FAULT_POINTS="publish.after_send:erp"`` kills the
process with SIGKILL (no cleanup, no ``finally``: as a power cut or the OOM killer would) the first
time that point is reached; ``name@3`` kills it on the third time.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

FAULTS_ENV = "CUSTHUB_FAULT_POINTS"
_reached: Counter[str] = Counter()


def fault_point(name: str) -> None:
    """Die here if a test asked for it; otherwise nothing (one environment look-up)."""
    wanted = os.environ.get(FAULTS_ENV)
    if not wanted:
        return
    _reached[name] += 1
    for item in wanted.split(","):
        point, _, nth = item.strip().partition("@")
        if point == name and _reached[name] == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)
