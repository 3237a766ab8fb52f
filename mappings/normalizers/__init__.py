"""Normalizers: raw values to canonical ones, by name, for the mapping specs.

Every entry takes the raw (non-empty) value and the record's country (already
normalized, or the spec's default country) and returns the canonical value, or
raises ``mappings.errors.InvalidValue``. Normalizers that do not depend on the
country ignore it, so the engine calls them all the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mappings.normalizers.address import normalize_postal_code, normalize_street
from mappings.normalizers.company_id import normalize_company_id
from mappings.normalizers.country import normalize_country
from mappings.normalizers.email import normalize_email
from mappings.normalizers.iban import normalize_iban
from mappings.normalizers.legal_form import legal_form_from_code, legal_form_from_name
from mappings.normalizers.numbers import parse_decimal, parse_int, parse_money
from mappings.normalizers.phone import normalize_phone
from mappings.normalizers.registry import dissolved_if_dated
from mappings.normalizers.text import normalize_text
from mappings.normalizers.vat import normalize_vat

Normalizer = Callable[[Any, str | None], Any]


def _country_free(fn: Callable[[Any], Any]) -> Normalizer:
    def normalize(value: Any, country: str | None) -> Any:
        return fn(value)

    normalize.__doc__ = fn.__doc__
    return normalize


NORMALIZERS: dict[str, Normalizer] = {
    "text": _country_free(normalize_text),
    "company_id": normalize_company_id,
    "vat_id": normalize_vat,
    "phone": normalize_phone,
    "country": _country_free(normalize_country),
    "iban": _country_free(normalize_iban),
    "email": _country_free(normalize_email),
    "legal_form_from_name": _country_free(legal_form_from_name),
    "legal_form_from_code": _country_free(legal_form_from_code),
    "decimal": _country_free(parse_decimal),
    "money": _country_free(parse_money),
    "integer": _country_free(parse_int),
    "street": _country_free(normalize_street),
    "postal_code": normalize_postal_code,
    "dissolved_if_dated": _country_free(dissolved_if_dated),
}


def get_normalizer(name: str) -> Normalizer:
    return NORMALIZERS[name]
