"""A registry's request rate: at most ``rate_per_second`` requests, whatever the threads.

A token bucket from pyrate-limiter (maintained, thread-safe, exact waits without polling):
a full bucket holds one second's worth of requests, so a run may start with that burst and
then goes at the rate. Every request to the registry takes a token first, retries included
(the connectors call ``Pace.wait`` inside the retried function), so a registry never sees
more than its rate from us.
"""

from __future__ import annotations

import math

from pyrate_limiter import Limiter, Rate, SingleBucketFactory, StateBucket, TokenBucket

from connectors.registries.inflight import DeadlinePassed, remaining


class Pace:
    def __init__(self, rate_per_second: float):
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.rate = rate_per_second
        # Rate takes whole requests per whole milliseconds: n requests per n/rate seconds.
        limit = max(1, math.ceil(rate_per_second))
        interval_ms = max(1, round(1000 * limit / rate_per_second))
        bucket = StateBucket([Rate(limit, interval_ms)], TokenBucket())
        # A token bucket keeps one number and has nothing to leak: no leaker thread per Pace
        # (one is started by default and outlives the step). buffer_ms: its default adds 50 ms
        # to every wait, which would slow the rate.
        self._limiter = Limiter(SingleBucketFactory(bucket, schedule_leak=False), buffer_ms=0)

    def wait(self, until: float | None = None) -> None:
        """Take a token, waiting for it at most until ``until`` (a ``time.monotonic()``
        deadline): none by then is ``DeadlinePassed``, the request is not sent."""
        left = remaining(until)
        if not self._limiter.try_acquire("registry", timeout=-1 if left is None else left):
            raise DeadlinePassed("no request slot within the registry's rate before the deadline")


def pace(pacer: Pace | None, until: float | None) -> None:
    """``pacer.wait(until)``, or nothing for a connector used without a rate."""
    if pacer is not None:
        pacer.wait(until)
