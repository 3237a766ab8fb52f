"""A value a data steward types for a Customer field, read as source data is read.

The review page and ``custhub review resolve`` both end here: the typed text goes through the
field's normalizer (the same one the mapping specs name for that field), then through the
canonical ``Customer`` model, so that what a steward decides is stored exactly as a record
mapped from a system would hold it (``"1 000,50"`` -> ``"1000.50"``, ``"602 123 456"`` ->
``"+420602123456"``). A value the normalizer refuses raises ``RefusedValue`` with one line
naming the field, the value and why.
"""

from __future__ import annotations

import datetime
import typing
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from core.errors import DataError
from mappings.customer import CUSTOMER_FIELDS, Customer, RegistryStatus
from mappings.errors import InvalidValue
from mappings.normalizers import get_normalizer
from mappings.normalizers.dates import parse_date
from mappings.normalizers.legal_form import canonical_legal_form

# field -> the normalizer the mapping specs use for it (mappings/specs/*.yaml)
FIELD_NORMALIZERS: dict[str, str] = {
    "company_id": "company_id", "vat_id": "vat_id", "legal_name": "text", "street": "street",
    "city": "city", "postal_code": "postal_code", "country": "country", "email": "email",
    "phone": "phone", "iban": "iban", "payment_terms_days": "integer", "credit_limit": "money",
    "street_name": "street_name", "house_number": "house_number", "website": "website",
    "company_key": "company_key",  # typed as the company id; the company's country goes with it
}


class RefusedValue(DataError, ValueError):
    """A typed value that is not a valid value of its field; the message is one line for a person."""

    def __init__(self, field: str, typed: str, reason: str) -> None:
        super().__init__(f"{field}: {typed!r} refused: {reason}")
        self.field, self.typed, self.reason = field, typed, reason


def steward_value(field: str, typed: str, country: str | None = None) -> Any:
    """The canonical value of ``field`` for the text a steward typed (JSON-ready, as stored).

    ``country`` is the company's country (ISO alpha-2): it reads a national phone number, a
    VAT ID without prefix and tells an IČO from another country's registration number.
    """
    if field not in CUSTOMER_FIELDS:
        raise RefusedValue(field, typed, "not a field of a customer")
    text = typed.strip()
    if not text:
        raise RefusedValue(field, typed, "empty; type a value")
    try:
        value = _normalizer(field)(text, country)
    except InvalidValue as e:
        raise RefusedValue(field, typed, _reason(e)) from None
    if value is None:
        raise RefusedValue(field, typed, "not a value this field can hold")
    try:
        return Customer.model_validate({field: value}).present()[field]
    except ValidationError as e:
        raise RefusedValue(field, typed, e.errors()[0]["msg"]) from None


def _normalizer(field: str) -> Callable[[Any, str | None], Any]:
    if field in FIELD_NORMALIZERS:
        return get_normalizer(FIELD_NORMALIZERS[field])
    if field == "legal_form":
        return _legal_form
    if field == "registry_status":
        return _registry_status
    if _is_date(field):
        return lambda text, country: parse_date(text)
    return lambda text, country: text  # the Customer model alone validates it


def _legal_form(text: str, country: str | None) -> str:
    found = canonical_legal_form(text)
    if found is None:
        raise InvalidValue("legal form", "unknown legal form (e.g. s.r.o., a.s., GmbH)")
    return found


def _registry_status(text: str, country: str | None) -> RegistryStatus:
    try:
        return RegistryStatus(text.lower())
    except ValueError:
        allowed = ", ".join(s.value for s in RegistryStatus)
        raise InvalidValue("registry status", f"one of {allowed}") from None


def _is_date(field: str) -> bool:
    hint = typing.get_type_hints(Customer).get(field)
    return datetime.date in typing.get_args(hint) or hint is datetime.date


def _reason(error: InvalidValue) -> str:
    # "not a phone number" reads on its own; "invalid checksum" needs to say of what
    return error.reason if error.label in error.reason else f"{error.reason} ({error.label})"
