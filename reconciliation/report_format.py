"""How the report writes numbers, money, dates and the names of sources and rules for a person.

The page follows the reader's locale through Babel (``cs_CZ``: ``100 000,50``, ``97,5 %``,
``24. 11. 2026``); the files keep typed values (reconciliation.report_files). Values arrive from
the store as text; ``typed`` gives the money and number fields their type back, and a phone
number its international spelling (``+420 601 234 567``), which a person reads at a glance.

Survivorship rules and sources have short names in the configuration (``ares``,
``source_priority``); ``chosen_by`` and the legend say what they mean in plain words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

DEFAULT_LOCALE = "cs_CZ"
MONEY_FIELDS = frozenset({"credit_limit"})
NUMBER_FIELDS = frozenset({"payment_terms_days"})

# What each survivorship rule did, said of the source whose value won.
RULE_WORDS: dict[str, str] = {
    "source_priority": "the most trusted source that holds this field",
    "most_recent": "its value changed most recently",
    "most_frequent": "most sources hold this value",
    "first_non_empty": "the first listed source with a value",
    "registry": "the public register knows the company (else the value most sources agree on)",
    "steward": "a data steward chose this value on the review page",
}
RULE_LEGEND: dict[str, str] = {
    "source_priority": "Each field lists its sources in order of trust; the first that holds a value wins.",
    "most_recent": "The value changed last at its source wins.",
    "most_frequent": "The value most of the listed sources hold wins.",
    "first_non_empty": "The first listed source that holds any value wins.",
    "registry": "The public register wins when it knows the company; otherwise the value most "
                "of the other listed sources agree on.",
    "steward": "A data steward decided the value on the review page; it comes before every rule.",
}
# Plain names of sources by their kind, where the configuration gives none (report.source_names).
KIND_WORDS: dict[str, str] = {
    "soap_crm": "the sales CRM",
    "sql_view": "a database the hub reads",
    "sftp_files": "export files the hub fetches over SFTP",
    "ares": "ARES, the Czech public business register",
    "isir": "ISIR, the Czech insolvency register",
    "vies": "VIES, the EU's check of VAT IDs",
}


def check_locale(name: str) -> str:
    """``name`` if Babel knows it, as a configuration validator wants it."""
    try:
        Locale.parse(name)
    except (ValueError, UnknownLocaleError) as e:
        raise ValueError(f"unknown locale {name!r} (e.g. cs_CZ, en_GB)") from e
    return name


@dataclass(frozen=True)
class Formatter:
    """Jinja filters for one locale."""

    locale: str = DEFAULT_LOCALE

    def number(self, value: int | float | Decimal | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)

    def money(self, value: Decimal | float | None) -> str:
        return "" if value is None else format_decimal(value, format="#,##0.00", locale=self.locale)

    def percent(self, fraction: float | None) -> str:
        if fraction is None:
            return ""
        return format_decimal(fraction * 100, format="0.0", locale=self.locale) + "\u00a0%"

    def day(self, value: date | str | None) -> str:
        parsed = as_date(value)
        if isinstance(parsed, datetime):
            return format_datetime(parsed, "medium", locale=self.locale)
        return format_date(parsed, "medium", locale=self.locale) if parsed else (value or "")

    def moment(self, value: date | str | None) -> str:
        """A short date and time, for a chart's axis: 07.12.26 19:33."""
        parsed = as_date(value)
        if not isinstance(parsed, datetime):
            return self.day(value)
        return format_datetime(parsed, "short", locale=self.locale)

    def value(self, field: str, value: object) -> str:
        """A field's value as the page shows it."""
        typed_value = typed(field, value)
        if isinstance(typed_value, Decimal):
            return self.money(typed_value)
        if isinstance(typed_value, int):
            return self.number(typed_value)
        return "" if typed_value is None else str(typed_value)


def typed(field: str, value: object) -> object:
    """A stored text value with its field's type: Decimal money, int numbers, a phone number
    spelled with spaces; anything that does not parse stays the text it was."""
    if not isinstance(value, str):
        return value
    try:
        if field in MONEY_FIELDS:
            return Decimal(value)
        if field in NUMBER_FIELDS:
            return int(value)
    except (InvalidOperation, ValueError):
        return value
    if field == "phone":
        return _phone(value)
    return value


@lru_cache(maxsize=4096)  # a company's golden value is shown again for each system that agrees
def _phone(text: str) -> str:
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def as_date(value: object) -> date | None:
    """A date (or date and time) from an ISO text; None for anything else."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    except ValueError:
        return None


def chosen_by(source: str | None, rule: str | None, names: Mapping[str, str]) -> str:
    """Why the golden value is what it is, in plain words: "ARES, the Czech public business
    register: the most trusted source that holds this field"."""
    if rule == "steward" or source == "steward":
        return RULE_WORDS["steward"]
    who = names.get(source or "", source or "no source")
    return f"{who}: {RULE_WORDS.get(rule or '', rule or 'no rule')}"
