"""Peak resident memory of this process while a block runs (sampled from /proc, Linux).

``resource.getrusage`` only knows the process's all-time peak, which an earlier bench in
the same process may have set; sampling shows what the block itself needed.
"""

from __future__ import annotations

import os
import resource
import threading
from types import TracebackType

_PAGE = os.sysconf("SC_PAGE_SIZE")


def process_rss_mb(pid: int | str) -> float | None:
    """Resident memory of process ``pid`` ("self": this one) now; None once it has ended
    (or off Linux)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return None


def rss_mb() -> float:
    mb = process_rss_mb("self")
    # not Linux: the all-time peak is the best there is
    return mb if mb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRss:
    """``with PeakRss() as peak: ...`` then ``peak.before``, ``peak.peak`` (MB)."""

    def __init__(self, every: float = 0.01):
        self._every, self._stop = every, threading.Event()
        self.before = self.peak = 0.0
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self._every):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRss:
        self.before = self.peak = rss_mb()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())
