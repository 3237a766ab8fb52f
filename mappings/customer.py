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
    iban is compact upper case; a foreign company_id carries its register's scheme
    (``HRB470634``, ``FN446599P``, ``KRS0000123456``; see mappings.normalizers.register).
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
    # The street line split (mappings.normalizers.street), for a matcher that compares the
    # street's name and the house number apart; ``street`` keeps the line as the system wrote it.
    street_name: str | None = None  # "Školní", "Hauptstraße"
    house_number: str | None = None  # "531/105" (popisné/orientační), "604", "5a"
    website: str | None = None  # the registered domain: "firma.cz", "firma.co.uk"
    company_key: str | None = None  # country and company id, "SK:35757442": a combined match key

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
