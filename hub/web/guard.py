"""Two guards of the review page's password login: a limit on failed logins, and session ends.

Both keep their state in memory, per process. That is enough for ``custhub serve``, which runs
one uvicorn process; several processes would each count and revoke on their own (a shared store
would be needed then). Mounted in Airflow's UI, Airflow's own login does both jobs.

- ``LoginThrottle``: at most ``limit`` failed logins per ``window`` seconds per user name and per
  client address; beyond that the login answers 429 with Retry-After, without checking the
  password (so the scrypt cost cannot be used to load the server either). A user under attack is
  locked out for at most one window: the price of not letting a guess through.
- ``SessionGuard``: sessions are itsdangerous-signed cookies, which the server cannot take back;
  so each one carries the user's session epoch, this process's boot id and a fingerprint of the
  user's password hash, and is honoured only while all three still hold. Logout moves the user's
  epoch (every session of that user ends, not only the one logging out); a changed password hash
  changes the fingerprint; a restart changes the boot id (an epoch kept in memory cannot outlive
  the process, so neither may the sessions it guards).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, MutableMapping
from typing import Any

SESSION_EPOCH, SESSION_BOOT, SESSION_KEY = "epoch", "boot", "key"


class LoginThrottle:
    def __init__(self, limit: int = 5, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, user: str, address: str) -> int:
        """Seconds until a login for ``user`` from ``address`` may be tried; 0: now."""
        now = self._clock()
        waits = [self._wait(key, now) for key in _keys(user, address)]
        return max(waits)

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        for key in _keys(user, address):
            self._failures[key].append(now)

    def _wait(self, key: str, now: float) -> int:
        times = self._failures.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]  # memory follows the attackers of the last minute only
            return 0
        if len(times) < self.limit:
            return 0
        return max(1, math.ceil(times[-self.limit] + self.window - now))


def _keys(user: str, address: str) -> tuple[str, str]:
    return f"user:{user.strip().lower()}", f"addr:{address}"


class SessionGuard:
    def __init__(self) -> None:
        self.boot = secrets.token_urlsafe(12)
        self._epochs: dict[str, int] = {}

    def stamp(self, session: MutableMapping[str, Any], user: str, password_hash: str) -> None:
        """Mark a session just started for ``user`` as valid under today's epoch and hash."""
        session[SESSION_EPOCH] = self._epochs.get(user, 0)
        session[SESSION_BOOT] = self.boot
        session[SESSION_KEY] = fingerprint(password_hash)

    def valid(self, session: MutableMapping[str, Any], user: str, password_hash: str) -> bool:
        return (session.get(SESSION_BOOT) == self.boot
                and session.get(SESSION_EPOCH) == self._epochs.get(user, 0)
                and session.get(SESSION_KEY) == fingerprint(password_hash))

    def end_all(self, user: str) -> None:
        """Every session of ``user`` issued so far stops being honoured."""
        self._epochs[user] = self._epochs.get(user, 0) + 1


def fingerprint(password_hash: str) -> str:
    # a digest of the salted hash: changes with the password, tells a cookie reader nothing
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]
