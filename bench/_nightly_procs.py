"""The nightly bench's two processes (the sandbox estate, the hub worker) and their memory.

Each process takes commands on stdin and answers each with one JSON line on stdout; its
stderr goes to a file, shown when it fails. A sampler reads both processes' resident memory
from /proc every few milliseconds, so that each step's peak RSS of each process is known
from the step's wall-clock interval.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from bench._rss import process_rss_mb


class CommandProcess:
    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None):
        self.name, self._log_path = name, log
        self._log = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, env=env)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read(self) -> dict[str, Any]:
        """The next JSON answer (other lines on stdout, if any, are skipped)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        self.proc.wait()
        raise RuntimeError(f"{self.name} ended (exit {self.proc.returncode}):\n{self.tail()}")

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self._log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 120) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write("stop\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()  # our own child, by its pid
            self.proc.wait(30)
        self._log.close()


class RssSampler:
    """``with RssSampler({"hub": pid, "estate": pid}) as rss: ...; rss.peak("hub", t0, t1)``."""

    def __init__(self, pids: dict[str, int], every: float = 0.02):
        self._pids, self._every = pids, every
        self._samples: list[tuple[float, dict[str, float | None]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = {n: process_rss_mb(p) for n, p in self._pids.items()}
            self._samples.append((time.time(), now))
            self._stop.wait(self._every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, name: str, start: float, end: float) -> float | None:
        """The highest sample of ``name`` within [start, end] (with the samples just around it,
        so that a step shorter than the sampling interval still gets one)."""
        values = [s[name] for t, s in self._samples
                  if start - self._every <= t <= end + self._every and s[name] is not None]
        return max(values) if values else None
