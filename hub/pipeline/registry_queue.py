"""The registry step's queue: which keys are due, in which order, how many a run asks, and the
deadline after which the step stops waiting and leaves the rest for the next run.

Due, in this order (each key once):
1. new: never checked;
2. changed: a record took the key (was mapped with it as a new key) after the key's last check;
3. pending: the last answer was pending (the registry could not say, or was refused unread);
4. old: the last final answer is ``recheck_after_days`` old or older, oldest first.
A final answer younger than that is the cache, and the key is not due. A run asks at most
``budget_per_run`` of the due keys; the others are counted and asked by the coming runs (they
keep their place: new and changed first, then the oldest).

A registry that does not answer (ARES unreachable, a request that hangs) must not hold the run:
``one_by_one`` asks each key (or batch) on a worker thread, and the step waits for it no longer
than the deadline. A request still open then runs out on its own (its retries end by the
deadline too, its HTTP timeouts bound the rest); its answer, if any, is dropped, and the key
stays due.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from hub.store.models import CanonicalRecord, RegistryCheck, Run

# The fields that make a record's registry keys (ARES and ISIR ask Czech company ids, VIES VAT
# ids): a record whose values change elsewhere keeps the time its keys were last written.
KEY_FIELDS = ("company_id", "vat_id", "country")
K = TypeVar("K")
T = TypeVar("T")
PENDING = frozenset({"unknown", "security_error"})  # asked again by the next run
NEW, CHANGED, PENDING_RANK, OLD = range(4)


@dataclass(frozen=True)
class LastCheck:
    at: datetime  # the latest check, whatever it answered
    final_on: date | None  # the day of the latest final answer
    final_at: datetime | None


def deadline(seconds: float | None) -> float | None:
    """A ``time.monotonic()`` deadline that many seconds from now (None: none)."""
    return None if seconds is None else time.monotonic() + seconds


def past(until: float | None) -> bool:
    return until is not None and time.monotonic() >= until


def identifiers(session: Session, systems: list[str], field: str,
                czech_only: bool) -> dict[str, datetime | None]:
    """Each key the systems' records hold, with when a record took it (the start of the run that
    mapped the record with these keys, ``CanonicalRecord.keys_run_id``). Grouped by the
    database, not loaded record by record: a million companies are a million rows of two columns."""
    key = CanonicalRecord.values[field].as_string()
    written_by = func.coalesce(CanonicalRecord.keys_run_id, CanonicalRecord.run_id)
    query = (select(key, func.max(Run.started_at))
             .join(Run, Run.id == written_by, isouter=True)
             .where(CanonicalRecord.system.in_(systems), key.is_not(None), key != "")
             .group_by(key))
    if czech_only:  # a record without a country is Czech, as the mappings default it
        country = CanonicalRecord.values["country"].as_string()
        query = query.where(or_(country == "CZ", country.is_(None)))
    return {k: written for k, written in session.execute(query)}


def last_checks(session: Session, registry: str) -> dict[str, LastCheck]:
    """Per key: its latest check, and its latest final answer (day and time)."""
    final = RegistryCheck.status.not_in(PENDING)
    rows = session.execute(
        select(RegistryCheck.key, func.max(RegistryCheck.checked_at),
               func.max(case((final, RegistryCheck.checked_on))),
               func.max(case((final, RegistryCheck.checked_at))))
        .where(RegistryCheck.registry_name == registry).group_by(RegistryCheck.key))
    return {key: LastCheck(at, final_on, final_at) for key, at, final_on, final_at in rows}


def in_order(keys: dict[str, datetime | None], checks: dict[str, LastCheck], today: date,
             recheck_after_days: int) -> list[str]:
    """The due keys, in the order they are asked (the module docstring)."""
    oldest_kept = today - timedelta(days=recheck_after_days)
    ranked: list[tuple[int, str, str]] = []
    for key, written in keys.items():
        last = checks.get(key)
        if last is None:
            ranked.append((NEW, "", key))
        elif written is not None and written > last.at:
            ranked.append((CHANGED, "", key))
        elif last.final_at is None or last.at > last.final_at:
            ranked.append((PENDING_RANK, "", key))
        elif last.final_on is not None and last.final_on <= oldest_kept:
            ranked.append((OLD, last.final_on.isoformat(), key))
    return [key for _, _, key in sorted(ranked)]


def one_by_one(items: Iterable[K], ask: Callable[[K], T],
               until: float | None) -> Iterator[tuple[K, T]]:
    """``(item, ask(item))`` for each item (a key, or a batch of keys) in turn, until the
    deadline; what is left is not asked."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="registry")
    try:
        for item in items:
            if past(until):
                return
            future = pool.submit(ask, item)
            try:
                answer = future.result(
                    timeout=None if until is None else max(0.0, until - time.monotonic()))
            except WaitTimeout:
                return  # still open at the deadline: dropped, the key stays due
            yield item, answer
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
