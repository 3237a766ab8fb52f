"""Time and peak memory stage by stage, for the bench workers that run one size in a fresh process."""

from __future__ import annotations

import resource
import time


def peak_gb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


class Stages:
    def __init__(self) -> None:
        self.figures: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, stage: str) -> None:
        """The time since the previous lap, and the peak memory up to now."""
        now = time.perf_counter()
        self.figures[f"{stage} s"] = now - self._clock
        self.figures[f"peak GB after {stage}"] = peak_gb()
        self._clock = now

    def done(self) -> dict[str, float]:
        self.figures["total s"] = sum(v for k, v in self.figures.items() if k.endswith(" s"))
        self.figures["peak memory GB"] = peak_gb()
        return self.figures
