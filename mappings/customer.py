"""The canonical Customer: what every system's record means once mapped."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class RegistryStatus(StrEnum):
    ACTIVE = "active"
    DISSOLVED = "dissolved"  # ARES datumZaniku set
    INSOLVENT = "insolvent"
    UNKNOWN = "unknown"


class Customer(BaseModel):
    """A company as custhub understands it. Every field is optional: systems know different parts.

    Values are normalized (see ``mappings.normalizers``): company_id is the national
    registration number (Czech IČO as 8 digits), vat_id is compact with its country prefix
    (``CZ25596641``, Greece as ``EL``), country is ISO 3166-1 alpha-2, phone is E.164,
    iban is compact upper case.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    company_id: str | None = None
    vat_id: str | None = None
    legal_name: str | None = None
    legal_form: str | None = None  # canonical abbreviation, e.g. "s.r.o.", "a.s.", "GmbH"
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    email: str | None = None
    phone: str | None = None
    iban: str | None = None
    payment_terms_days: int | None = None
    credit_limit: Decimal | None = None
    registry_status: RegistryStatus | None = None

    def present(self) -> dict[str, Any]:
        """The fields that carry a value, JSON-ready (Decimal and enums as strings)."""
        return {k: _jsonable(v) for k, v in self if v is not None}


CUSTOMER_FIELDS: tuple[str, ...] = tuple(Customer.model_fields)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, StrEnum):
        return value.value
    return value
