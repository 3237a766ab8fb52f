"""Numbers as Czech systems write them: "150 000,50", "1.234,50", "150000.50", "30".

Rules for text: spaces (also no-break and narrow no-break) are thousands separators; when
both "," and "." occur, the last one is the decimal mark; a single "," is a decimal comma
(the Czech convention); a repeated mark is a thousands separator ("1.234.567").
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from mappings.errors import InvalidValue

LABEL = "number"
_SPACES = re.compile(r"[\s\u00a0\u202f']")
_CENT = Decimal("0.01")


def _unify_marks(text: str) -> str:
    """Text with "." as the only decimal mark and no thousands separators."""
    if "," in text and "." in text:
        thousands = "." if text.rfind(",") > text.rfind(".") else ","
        return text.replace(thousands, "").replace(",", ".")
    for mark in (",", "."):
        if text.count(mark) > 1:
            return text.replace(mark, "")
    return text.replace(",", ".")


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise InvalidValue(LABEL, "not a number")
    if isinstance(value, (Decimal, int)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest repr, not the binary expansion
    try:
        number = Decimal(_unify_marks(_SPACES.sub("", str(value))))
    except InvalidOperation as exc:
        raise InvalidValue(LABEL, "not a number") from exc
    if not number.is_finite():
        raise InvalidValue(LABEL, "not a number")
    return number


def parse_money(value: Any) -> Decimal:
    """A decimal with exactly two places, so that "150000,5" and "150000.50" compare as text too."""
    number = parse_decimal(value)
    if number != number.quantize(_CENT):
        raise InvalidValue("amount", "more than 2 decimal places")
    return number.quantize(_CENT)


def parse_int(value: Any) -> int:
    """An integer; "30", "30,0" and 30.0 are accepted, "30,5" is not."""
    number = parse_decimal(value)
    if number != number.to_integral_value():
        raise InvalidValue(LABEL, "not a whole number")
    return int(number)


def format_decimal(value: Decimal, decimal_comma: bool) -> str:
    """Plain digits (no exponent, no thousands separators) with the system's decimal mark."""
    text = format(value, "f")
    return text.replace(".", ",") if decimal_comma else text
