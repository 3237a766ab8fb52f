"""Phone numbers as E.164, read with the record's country as the region for national numbers."""

from __future__ import annotations

from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from mappings.errors import InvalidValue
from mappings.normalizers._common import as_str

LABEL = "phone"


def normalize_phone(value: Any, country: str | None = None) -> str:
    """"+420 602 123 456", "602123456" (CZ) and "00420602123456" (CZ) all give "+420602123456"."""
    try:
        number = phonenumbers.parse(as_str(value), country)
    except NumberParseException as exc:
        raise InvalidValue(LABEL, _parse_reason(exc, country)) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue(LABEL, "not a valid number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _parse_reason(exc: NumberParseException, country: str | None) -> str:
    if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and country is None:
        return "national number and no country to read it in"
    return "not a phone number"
