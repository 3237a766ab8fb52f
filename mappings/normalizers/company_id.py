"""Company registration numbers: the Czech and Slovak IČO, other countries kept compact.

python-stdnum has no ``cz.ico``, but the 8-digit legal-entity DIČ is the IČO with the same
mod-11 check digit, so ``stdnum.cz.dic.calc_check_digit_legal`` is the IČO rule. The Slovak
IČO uses the same rule.
"""

from __future__ import annotations

import re
from typing import Any

from stdnum.cz.dic import calc_check_digit_legal

from mappings.errors import InvalidValue
from mappings.normalizers._common import as_str
from mappings.normalizers.register import parse_register_id

LABEL = "ICO"
_ICO_COUNTRIES = frozenset({"CZ", "SK"})
_SEPARATORS = re.compile(r"[\s.\-/]")


def normalize_company_id(value: Any, country: str | None = None) -> str:
    """Czech/Slovak IČO (also when the country is unknown); a register number of DE, AT, PL, HU
    or SI as its typed key ("HRB470634", mappings.normalizers.register); others compacted."""
    if country is None or country in _ICO_COUNTRIES:
        return normalize_ico(value)
    typed = parse_register_id(as_str(value), country)
    return typed.key if typed is not None else _SEPARATORS.sub("", as_str(value)).upper()


def company_key(value: Any, country: str | None = None) -> str:
    """The company id with its country, "SK:35757442": a match key under which a Czech and a
    Slovak company whose IČO collide (the two registers share the number space) stay apart."""
    return f"{country or 'CZ'}:{normalize_company_id(value, country)}"  # no country: read as CZ


def company_key_from_dic(value: Any, country: str | None = None) -> str | None:
    """``company_key`` of the IČO inside a Czech company's DIČ: "CZ:25596641"."""
    ico = ico_from_dic(value, country)
    return None if ico is None else f"CZ:{ico}"


def ico_from_dic(value: Any, country: str | None = None) -> str | None:
    """The IČO inside a Czech legal person's DIČ ("CZ25596641" -> "25596641"); None otherwise.

    A Czech company's DIČ is "CZ" + its IČO; a natural person's (9 or 10 digits, the birth
    number) and a Slovak DIČ (10 digits, unrelated to the IČO) carry none. A DIČ that is not
    valid is the VAT field's to report, so this never raises: it only finds an IČO or not.
    """
    text = _SEPARATORS.sub("", as_str(value)).upper()
    if text.startswith("CZ"):
        text = text[2:]
    elif text[:2].isalpha() or country not in (None, "CZ"):
        return None
    if len(text) != 8 or not text.isdigit():
        return None
    return text if calc_check_digit_legal(text[:-1]) == text[-1] else None


def normalize_ico(value: Any) -> str:
    """8 digits, left-padded with zeros (systems storing numbers drop them), checksum verified."""
    digits = _SEPARATORS.sub("", as_str(value))
    if not digits.isdigit():
        raise InvalidValue(LABEL, "not a number")
    if len(digits) > 8:
        raise InvalidValue(LABEL, "more than 8 digits")
    digits = digits.zfill(8)
    if calc_check_digit_legal(digits[:-1]) != digits[-1]:
        raise InvalidValue(LABEL, "invalid checksum")
    return digits
