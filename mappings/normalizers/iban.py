"""IBAN: compact upper case, checked by python-stdnum (mod 97 and the country's length)."""

from __future__ import annotations

from typing import Any

from stdnum import iban
from stdnum.exceptions import ValidationError

from mappings.errors import InvalidValue
from mappings.normalizers._common import as_str, stdnum_reason

LABEL = "IBAN"


def normalize_iban(value: Any) -> str:
    try:
        return iban.validate(as_str(value))
    except ValidationError as exc:
        raise InvalidValue(LABEL, stdnum_reason(exc)) from exc
