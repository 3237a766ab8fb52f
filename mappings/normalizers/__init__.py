"""Normalizers: raw values to canonical ones, by name, for the mapping specs.

Every entry takes the raw (non-empty) value and the record's country (already
normalized, or the spec's default country) and returns the canonical value, or
raises ``mappings.errors.InvalidValue``. Normalizers that do not depend on the
country ignore it, so the engine calls them all the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mappings.normalizers.bank_account import normalize_bank_account
from mappings.normalizers.address import normalize_postal_code, normalize_street
from mappings.normalizers.city import normalize_city
from mappings.normalizers.company_id import (company_key, company_key_from_dic, ico_from_dic,
                                             normalize_company_id)
from mappings.normalizers.country import normalize_country
from mappings.normalizers.email import normalize_email
from mappings.normalizers.iban import normalize_iban
from mappings.normalizers.legal_form import legal_form_from_code, legal_form_from_name
from mappings.normalizers.numbers import parse_decimal, parse_int, parse_money
from mappings.normalizers.phone import normalize_phone
from mappings.normalizers.registry import dissolved_if_dated
from mappings.normalizers.street import normalize_house_number, normalize_street_name
from mappings.normalizers.text import normalize_text
from mappings.normalizers.vat import normalize_vat
from mappings.normalizers.website import normalize_website

Normalizer = Callable[[Any, str | None], Any]


def _country_free(fn: Callable[[Any], Any]) -> Normalizer:
    def normalize(value: Any, country: str | None) -> Any:
        return fn(value)

    normalize.__doc__ = fn.__doc__
    return normalize


# The normalizers that ignore the country, by name: a bulk engine reads them once per value.
_COUNTRY_FREE: dict[str, Callable[[Any], Any]] = {
    "text": normalize_text,
    "country": normalize_country,
    "iban": normalize_iban,
    "email": normalize_email,
    "legal_form_from_name": legal_form_from_name,
    "legal_form_from_code": legal_form_from_code,
    "decimal": parse_decimal,
    "money": parse_money,
    "integer": parse_int,
    "street": normalize_street,
    "dissolved_if_dated": dissolved_if_dated,
    "house_number": normalize_house_number,
    "city": normalize_city,
    "website": normalize_website,
}
COUNTRY_FREE = frozenset(_COUNTRY_FREE)

NORMALIZERS: dict[str, Normalizer] = {
    **{name: _country_free(fn) for name, fn in _COUNTRY_FREE.items()},
    "company_id": normalize_company_id,
    "vat_id": normalize_vat,
    "phone": normalize_phone,
    "postal_code": normalize_postal_code,
    "bank_account": normalize_bank_account,
    "street_name": normalize_street_name,
    "ico_from_dic": ico_from_dic,
    "company_key": company_key,
    "company_key_from_dic": company_key_from_dic,
}


def get_normalizer(name: str) -> Normalizer:
    return NORMALIZERS[name]
