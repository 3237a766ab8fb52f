"""The registry step's queue: keys asked one by one, answers handed back as they arrive, and a
deadline after which the step stops waiting and leaves the rest for the next run.

A registry that does not answer (ARES unreachable, a request that hangs) must not hold the run:
each key is asked on a worker thread, and the step waits for it no longer than the deadline.
A request still open then runs out on its own (its retries end by the deadline too, its HTTP
timeouts bound the rest); its answer, if any, is dropped, and the key stays due.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout
from typing import TypeVar

T = TypeVar("T")


def deadline(seconds: float | None) -> float | None:
    """A ``time.monotonic()`` deadline that many seconds from now (None: none)."""
    return None if seconds is None else time.monotonic() + seconds


def past(until: float | None) -> bool:
    return until is not None and time.monotonic() >= until


def one_by_one(keys: Iterable[str], ask: Callable[[str], T],
               until: float | None) -> Iterator[tuple[str, T]]:
    """``(key, ask(key))`` for each key in turn, until the deadline; what is left is not asked."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="registry")
    try:
        for key in keys:
            if past(until):
                return
            future = pool.submit(ask, key)
            try:
                answer = future.result(
                    timeout=None if until is None else max(0.0, until - time.monotonic()))
            except WaitTimeout:
                return  # still open at the deadline: dropped, the key stays due
            yield key, answer
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
