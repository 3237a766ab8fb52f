"""EU VAT IDs: compact, with the country prefix, validated by python-stdnum.

Greece is ``EL`` in VAT (not ISO ``GR``); people paste the prefix twice ("CZCZ…") or leave
it out, in which case the record's country supplies it.
"""

from __future__ import annotations

from typing import Any

import re

from stdnum.eu import vat
from stdnum.exceptions import ValidationError
from stdnum.hu import anum
from stdnum.util import clean

from mappings.errors import InvalidValue
from mappings.normalizers._common import as_str, stdnum_reason

LABEL = "VAT ID"
# A Hungarian adószám: the 8-digit törzsszám (the VAT number, "HU" + it), the VAT code 1-5 and
# the county: "12892312-2-41". Accounting systems keep it whole in the VAT field.
_ADOSZAM = re.compile(r"^(?:HU)?(\d{8})[1-5]\d{2}$")


def _vat_prefix(country: str) -> str:
    return "EL" if country == "GR" else country


def _with_prefix(number: str, country: str | None) -> str:
    if number[:2].isalpha():
        prefix = _vat_prefix(number[:2])
        rest = number[2:]
        if rest[:2] == number[:2] or _vat_prefix(rest[:2]) == prefix:
            rest = rest[2:]  # "CZCZ25596641"
        return prefix + rest
    if country is None:
        raise InvalidValue(LABEL, "no country prefix and no country")
    return _vat_prefix(country) + number


def _hungarian(number: str, country: str | None) -> str | None:
    """"12892312-2-41" (HU) or "HU12892312-2-41" -> "HU12892312", checked by stdnum's hu.anum."""
    match = _ADOSZAM.match(number)
    if match is None or not (number.startswith("HU") or country == "HU"):
        return None
    try:
        return "HU" + anum.validate(match[1])
    except ValidationError as exc:
        raise InvalidValue(LABEL, stdnum_reason(exc)) from exc


def normalize_vat(value: Any, country: str | None = None) -> str:
    """``CZ25596641``: separators dropped, prefix ensured once, checksum verified."""
    number = clean(as_str(value), " -./").upper()
    number = _hungarian(number, country) or _with_prefix(number, country)
    if number[:2].lower() not in vat.MEMBER_STATES and number[:2] != "EL":
        raise InvalidValue(LABEL, f"no EU VAT rule for country prefix {number[:2]!r}")
    try:
        valid = vat.validate(number)
    except ValidationError as exc:
        raise InvalidValue(LABEL, stdnum_reason(exc)) from exc
    return _vat_prefix(valid[:2]) + valid[2:]
