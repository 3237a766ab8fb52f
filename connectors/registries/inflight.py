"""Requests that hold their slot until they really end, even after the caller gave up on them.

A registry such as VIES limits the requests in flight per member state, and counts a request
until *it* has answered, not until our client stopped waiting. A client that closes the socket at
its read timeout and retries at once has, in the registry's eyes, two requests in flight, then
three: with answers slower than the timeout, "a cap of 2" became 5 or 6 in flight.

``CappedCalls.run`` therefore sends each request from its own daemon thread, which holds the
key's slot (a semaphore) for as long as the request is really open: until the answer arrives,
late or not, or the hard read timeout (``abandon_after``) drops it. The caller waits only
``wait`` seconds for it; a request still open then is abandoned (``requests``' ``ReadTimeout``,
which the failure table classifies and the retry policy retries), but its slot stays taken, so a
retry waits for it. The clients a request uses (a zeep service proxy each) are pooled: a client
is used by one request at a time and returns to the pool when that request ends.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitTimeout
from typing import Generic, TypeVar

import requests
from pydantic import BaseModel

from connectors.errors import Action, ConnectorError, Kind

C = TypeVar("C")
T = TypeVar("T")


class DeadlinePassed(ConnectorError):
    """The caller's deadline came before a slot or an answer: the request is not an answer, and
    not retried (the step that set the deadline leaves the key for its next run)."""

    action, kind = Action.FAIL, Kind.TRANSIENT


def remaining(until: float | None) -> float | None:
    """Seconds left until a ``time.monotonic()`` deadline (never negative); None: no deadline."""
    return None if until is None else max(0.0, until - time.monotonic())


S = TypeVar("S", bound=BaseModel)


def within(settings: S, until: float | None) -> S:
    """The connector's settings with its retries ending by ``until`` at the latest."""
    if until is None:
        return settings
    left = max(remaining(until) or 0.0, 0.001)
    return settings.model_copy(update={"retry_deadline": min(left, settings.retry_deadline)})


class CappedCalls(Generic[C]):
    """``cap``: requests open at once per key (an int, or a function of the key: each member
    state has its own limit); ``total``: requests open at once in all, given up ones included."""

    def __init__(self, cap: int | Callable[[str], int], make_client: Callable[[], C],
                 wait: float, total: int | None = None):
        self.cap, self.wait = cap, wait
        self._make_client = make_client
        self._clients: queue.SimpleQueue[C] = queue.SimpleQueue()
        self._gates: dict[str, threading.BoundedSemaphore] = {}
        self._total = threading.BoundedSemaphore(total) if total else None
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Make one client now (its contract loads here, once), ready for the first request."""
        self._clients.put(self._make_client())

    def run(self, key: str, request: Callable[[C], T], until: float | None = None) -> T:
        """``request(client)`` with at most ``cap`` requests of ``key`` open at once, counted
        until each really ends; waits at most ``wait`` seconds (and never past ``until``)."""
        gate = self._gate(key)
        if not gate.acquire(timeout=remaining(until)):
            raise DeadlinePassed(f"no free slot for {key} before the deadline")
        if self._total is not None and not self._total.acquire(timeout=remaining(until)):
            gate.release()
            raise DeadlinePassed(f"no free slot for {key} before the deadline")
        result: Future[T] = Future()
        threading.Thread(target=self._send, args=(gate, request, result), daemon=True,
                         name=f"request-{key}").start()
        left = remaining(until)
        try:
            return result.result(timeout=self.wait if left is None else min(self.wait, left))
        except WaitTimeout:
            if left is not None and left < self.wait:
                raise DeadlinePassed(f"no answer for {key} before the deadline") from None
            raise requests.exceptions.ReadTimeout(
                f"no answer within {self.wait:g}s (the request keeps its slot until it ends)"
            ) from None

    def _gate(self, key: str) -> threading.BoundedSemaphore:
        with self._lock:
            if key not in self._gates:
                cap = self.cap(key) if callable(self.cap) else self.cap
                self._gates[key] = threading.BoundedSemaphore(cap)
            return self._gates[key]

    def _send(self, gate: threading.BoundedSemaphore, request: Callable[[C], T],
              result: Future[T]) -> None:
        try:
            client = self._checkout()
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting caller as it is
            self._release(gate)
            result.set_exception(exc)
            return
        try:
            result.set_result(request(client))
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting caller as it is
            result.set_exception(exc)
        finally:
            self._clients.put(client)
            self._release(gate)

    def _release(self, gate: threading.BoundedSemaphore) -> None:
        gate.release()
        if self._total is not None:
            self._total.release()

    def _checkout(self) -> C:
        try:
            return self._clients.get_nowait()
        except queue.Empty:
            return self._make_client()
