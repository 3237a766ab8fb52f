"""The one bounded retry policy for transport calls (tenacity).

Only errors whose action is RETRY are retried; the original exception is re-raised
after the last attempt so that callers see the real cause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from connectors.errors import Action, ConnectorError

T = TypeVar("T")


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ConnectorError) and exc.action is Action.RETRY


def retrying(attempts: int = 4, initial: float = 0.2, maximum: float = 5.0,
             deadline: float = 60.0) -> Retrying:
    return Retrying(
        retry=retry_if_exception(_is_retryable),
        wait=wait_exponential_jitter(initial=initial, max=maximum),
        stop=stop_after_attempt(attempts) | stop_after_delay(deadline),
        reraise=True,
    )


def call_with_retry(fn: Callable[[], T], policy: Retrying | None = None) -> T:
    return (policy or retrying())(fn)
