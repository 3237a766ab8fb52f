"""Canonical values -> a system's own representation, for write-back: once, by its spec.

The outbox keeps corrections as JSON, so a credit limit comes back from it as the text
"150000.50" (or "150000,50", 150000.5, 150000 from a row made by hand or by an older
hub). ``to_system`` first brings each value back to the type the canonical ``Customer``
declares for its field (Decimal, int, date, an enum, str), whatever form it arrives in,
and then represents it as the system's spec states:

- a file system (the spec has a ``format``): text spelled by that format, a decimal comma
  or point, dates in its ``date_format``; the file writer only encodes the text (and
  refuses a value it cannot encode, per write);
- SOAP and SQL (no ``format``): the typed value the element or column expects, a Decimal
  for a numeric column (never a float), an int, a date; an enum as its text.
- text a spreadsheet would run as a formula ("-ZERO- a.s."; ``mappings.formulas``) is data
  over SOAP and SQL, and escaped in a CSV file as its import contract says (a leading
  apostrophe, docs/CONTRACTS.md), never written raw. Text that starts no real value ("=",
  "@") never gets here: reconciliation holds it (``reconciliation.formulas``).

This is the only place a value changes representation on its way out, so a value cannot
be spelled twice, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, get_args

from core.formats import FileFormat
from mappings.customer import CUSTOMER_FIELDS, Customer
from mappings.errors import FieldIssue, InvalidValue, MappingError
from mappings.formulas import escape_cell
from mappings.normalizers.numbers import format_decimal, parse_decimal, parse_int
from mappings.spec import MappingSpec

__all__ = ["canonical_value", "represent", "system_writer", "to_system"]


def to_system(spec: MappingSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical values (in any form the outbox holds them) -> the system's field names and
    representation. Fields the system does not hold, or holds only derived or composed
    (``write: false``), are left out; an unknown canonical field name is a programming error;
    a value that is not one of its field's type raises MappingError with every such field.
    """
    return system_writer(spec)(values)


def system_writer(spec: MappingSpec) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``to_system`` for one spec, its writable fields worked out once: publish writes
    thousands of rows of the same system."""
    if spec.read_only:
        raise ValueError(f"system {spec.system!r} is read-only")
    targets, file_format, known = spec.writable_fields(), spec.format, set(CUSTOMER_FIELDS)

    def write(values: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(values.keys() - known)
        if unknown:
            raise ValueError(f"not canonical Customer fields: {unknown}")
        written: dict[str, Any] = {}
        issues: list[FieldIssue] = []
        for field, value in values.items():
            if field not in targets:
                continue
            try:
                written[targets[field]] = represent(canonical_value(field, value), file_format)
            except InvalidValue as exc:
                issues.append(FieldIssue(field, targets[field], value, exc.label, exc.reason))
        if issues:
            raise MappingError(issues)
        return written
    return write


def canonical_value(field: str, value: Any) -> Any:
    """``value`` as the canonical type of ``field`` (``Customer``'s annotation); None stays None."""
    if value is None:
        return None
    return _reader(field)(value)


def represent(value: Any, file_format: FileFormat | None) -> Any:
    """A canonical value as the system holds it: typed for SOAP and SQL, spelled for files."""
    if value is None:
        return None
    if isinstance(value, Enum):
        return value.value
    if file_format is None:
        return value
    if isinstance(value, Decimal):
        return format_decimal(value, file_format.decimal_comma)
    if isinstance(value, date):  # a datetime too: the file's pattern says what it shows
        return value.strftime(file_format.date_format)
    if file_format.type == "csv" and isinstance(value, str):
        return escape_cell(value)  # a spreadsheet opening the import file runs no formula
    return str(value)


@cache
def _reader(field: str) -> Callable[[Any], Any]:
    """How to read ``field``'s value back into its canonical type, from its annotation."""
    annotation = Customer.model_fields[field].annotation
    kind = next((t for t in get_args(annotation) if t is not type(None)), annotation)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return lambda value: _enum(kind, value)
    readers: dict[Any, Callable[[Any], Any]] = {
        Decimal: parse_decimal, int: parse_int, date: _date, str: _text}
    if kind not in readers:
        raise TypeError(f"Customer.{field}: no canonical reader for {kind!r}")
    return readers[kind]


def _text(value: Any) -> str:
    if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        return str(value)  # an IČO may have gone through JSON as a number
    raise InvalidValue("text", f"not text: {type(value).__name__}")


def _enum(kind: type[Enum], value: Any) -> Enum:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise InvalidValue(kind.__name__, f"not one of {allowed}") from None


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))  # JSON carries dates as ISO text
    except ValueError:
        raise InvalidValue("date", "not an ISO date (YYYY-MM-DD)") from None

