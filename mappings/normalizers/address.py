"""Address parts: street lines and postal codes.

Czech and Slovak postal codes are five digits that people write "110 00" or "11000";
other countries' codes keep their own shape ("00-950" in Poland, "SW1A 1AA"), trimmed.
"""

from __future__ import annotations

import re
from typing import Any

from mappings.errors import InvalidValue
from mappings.normalizers.text import normalize_text

LABEL = "postal code"
_FIVE_DIGIT_COUNTRIES = frozenset({"CZ", "SK"})
_COUNTRY_PREFIX = re.compile(r"^(CZ|SK)[\s-]*", re.IGNORECASE)  # "CZ-110 00" on old letterheads
# "338 / 16" and "338/ 16" are the same house number as "338/16".
_HOUSE_SLASH = re.compile(r"(?<=\d)\s*/\s*(?=\d)")


def normalize_street(value: Any) -> str | None:
    text = normalize_text(value)
    return _HOUSE_SLASH.sub("/", text) if text else None


def normalize_postal_code(value: Any, country: str | None = None) -> str | None:
    """"110 00" -> "11000" in CZ/SK (also when the country is unknown); others trimmed, upper."""
    text = normalize_text(value)
    if text is None:
        return None
    if country is not None and country not in _FIVE_DIGIT_COUNTRIES:
        return text.upper()
    digits = re.sub(r"\s", "", _COUNTRY_PREFIX.sub("", text))
    if not (digits.isdigit() and len(digits) == 5):
        raise InvalidValue(LABEL, "not 5 digits")
    return digits
