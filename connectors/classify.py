"""One shape for every connector's failure table, and the one function that reads it.

A table is a tuple of ``Rule`` rows, read top to bottom: the first row whose given columns all
match the error wins (so subclasses and specific codes come first). The columns a row may match on,
each empty by default (empty matches anything):

==========  ===========================================================================
exception   the error's type: a driver's, a DBAPI class, a paramiko exception, ``Answered``
status      HTTP status codes
fault       SOAP fault codes (the faultcode's local name or the faultstring; a dotted code also
            matches its head, so ``Server`` matches ``Server.Busy``), or the code a registry
            puts in its answer
sqlstate    SQLSTATE classes or codes, by prefix (``"28"`` matches ``28000``)
vendor      a driver's own error number or name (MySQL 1045, SQLite ``SQLITE_ERROR``)
when        a test the columns above cannot express (kept for the odd case, used once)
==========  ===========================================================================

A row says what to do (``action``), what sort of failure it is (``kind``, which picks the
``connectors.errors`` class), a message template, and, for registries, the ``outcome`` a check
records (None: the failure stops the step). Templates may use ``{type}`` (the driver's exception
class), ``{code}`` (the code that matched, or the error's own), ``{status}``, ``{text}`` (the
remote's own words, first line, capped) and whatever the caller passes as context (``{where}``,
``{doing}``). Nothing of the request is in scope, so no secret can reach a message.

Modelled on airbyte-python-cdk's ``default_error_mapping.py``: the table is data, one per
connector, kept in one place; this module holds no connector's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc as sa_exc
from zeep import exceptions as zx

from connectors.errors import BY_KIND, Action, ConnectorError, Kind

_TEXT_LIMIT = 300


class Answered(Exception):
    """A remote answer that says "error" in its body rather than as a fault or transport failure
    (ISIR's kodChyby, ARES's kod with its HTTP status), or input refused before the call with the
    code the registry itself would have given. Only its code and status are classified."""

    def __init__(self, code: str | None, text: str = "", *, status: int | None = None) -> None:
        super().__init__(text or code or "")
        self.code, self.text, self.status_code = code, text, status


def _frozen(values: Any) -> frozenset[Any]:
    return frozenset((values,) if isinstance(values, (str, int)) else values)


@dataclass(frozen=True)
class Rule:
    action: Action
    kind: Kind
    message: str
    exception: type[BaseException] | tuple[type[BaseException], ...] = BaseException
    status: Collection[int] = frozenset()
    fault: Collection[str] | str = frozenset()
    sqlstate: tuple[str, ...] = ()
    vendor: Collection[int | str] = frozenset()
    when: Callable[[BaseException], bool] | None = field(default=None, compare=False)
    outcome: str | None = None

    def __post_init__(self) -> None:
        for name in ("status", "fault", "vendor"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def matches(self, error: BaseException, signal: Signal) -> bool:
        if not isinstance(error, self.exception):
            return False
        if self.status and signal.status not in self.status:
            return False
        if self.sqlstate and not (signal.sqlstate or "").startswith(self.sqlstate):
            return False
        if self.vendor and signal.vendor not in self.vendor:
            return False
        if self.when is not None and not self.when(error):
            return False
        return not self.fault or self.code(signal) is not None

    def code(self, signal: Signal) -> str | None:
        """The error's code this row matched on; without a fault column, the error's own."""
        if not self.fault:
            return signal.codes[0] if signal.codes else None
        return next((code for code in signal.codes
                     if code in self.fault or code.partition(".")[0] in self.fault), None)


Rules = tuple[Rule, ...]

# When no row matches: refused, never guessed to be worth a retry.
FALLBACK = Rule(Action.FAIL, Kind.REFUSED, "unexpected failure ({type})")


@dataclass(frozen=True)
class Signal:
    """What a row can match on, read once from the error."""

    type: str
    text: str
    status: int | None = None
    codes: tuple[str, ...] = ()  # the first is the error's own code
    sqlstate: str | None = None
    vendor: int | str | None = None


def _first_line(text: object) -> str:
    return (str(text).strip().splitlines() or [""])[0][:_TEXT_LIMIT]


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    response = getattr(error, "response", None)  # requests.HTTPError
    if status is None and response is not None:
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _fault_codes(fault: zx.Fault) -> tuple[str, ...]:
    local = (fault.code or "").rpartition(":")[2]
    return tuple(dict.fromkeys(code for code in (local, fault.message or "") if code))


def _driver_signal(error: sa_exc.DBAPIError) -> Signal:
    orig = error.orig
    first = orig.args[0] if orig is not None and orig.args else None
    sqlstate = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    if sqlstate is None and isinstance(first, str) and len(first) == 5:  # pyodbc: args[0]
        sqlstate = first
    vendor = first if isinstance(first, int) else getattr(orig, "sqlite_errorname", None)
    return Signal(type(orig).__name__, _first_line(orig), sqlstate=sqlstate, vendor=vendor)


def signal(error: BaseException) -> Signal:
    if isinstance(error, sa_exc.DBAPIError):
        return _driver_signal(error)
    name, status = type(error).__name__, _status(error)
    if isinstance(error, zx.Fault):
        return Signal(name, _first_line(error.message or ""), status, _fault_codes(error))
    if isinstance(error, Answered):
        codes = (error.code,) if error.code else ()
        return Signal(name, _first_line(error.text), error.status_code, codes)
    return Signal(name, _first_line(error), status)


def classify(error: BaseException, rules: Rules, *, system: str,
             **context: object) -> ConnectorError:
    """The ``ConnectorError`` the first matching row makes of ``error`` (raise it ``from``
    ``error``); ``context`` fills the row's message template."""
    seen = signal(error)
    rule = next((rule for rule in rules if rule.matches(error, seen)), FALLBACK)
    return _error(rule, seen, rule.code(seen), system, context)


def _error(rule: Rule, seen: Signal, code: str | None, system: str,
           context: dict[str, object]) -> ConnectorError:
    fields = {"type": seen.type, "text": seen.text, "status": seen.status, "code": code,
              **context}
    detail = code or seen.sqlstate or (str(seen.vendor) if seen.vendor is not None else None) \
        or (str(seen.status) if seen.status is not None else seen.type)
    return BY_KIND[rule.kind](rule.message.format(**fields), system=system, detail=detail,
                              rule=rule)
