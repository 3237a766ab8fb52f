"""Bank accounts as IBAN, from an IBAN or a Czech/Slovak domestic account number.

Accounting exports hold the domestic form ``19-2000145399/0800`` (prefix, number, bank
code) far more often than an IBAN. The Czech form is read and checked by python-stdnum's
``cz.bankaccount`` (checksums and the bank code against the ČNB list). The Slovak form has
the same structure and the same mod-11 weights (it is the Czechoslovak standard); stdnum
has no Slovak module, so the weights are applied here and the IBAN is checked by
``stdnum.iban``. The bank code says which of the two an account is (the lists share no
code; the Slovak one is mappings/tables/bank_codes.yaml): a Slovak customer may bank in
Prague. Only a code neither list knows is read in the record's country.
Both IBANs are country + check digits + bank code + 6-digit prefix + 10-digit number, the check digits from ``stdnum.iban.calc_check_digits``.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from stdnum import iban
from stdnum.cz import bankaccount
from stdnum.exceptions import InvalidComponent, ValidationError

from mappings.errors import InvalidValue
from mappings.normalizers._common import as_str, stdnum_reason
from mappings.normalizers._tables import load_table
from mappings.normalizers.iban import normalize_iban

LABEL = "bank account"
_DOMESTIC = re.compile(r"^(?:(?P<prefix>\d{1,6})-)?(?P<number>\d{2,10})/(?P<bank>\d{4})$")
_IBAN_START = re.compile(r"^[A-Za-z]{2}\d{2}")
_SPACES = re.compile(r"\s+")
_WEIGHTS = (6, 3, 7, 9, 10, 5, 8, 4, 2, 1)  # the Czechoslovak mod-11 weights, right-aligned


def normalize_bank_account(value: Any, country: str | None = None) -> str:
    """``19-2000145399/0800`` (CZ) -> ``CZ6508000000192000145399``; an IBAN is checked as one.

    Its bank code makes it Czech or Slovak; a code neither list knows is read in the record's
    country: Slovak in SK (checksums only), Czech elsewhere (refused as an unknown bank).
    """
    text = _SPACES.sub("", as_str(value))
    if _IBAN_START.match(text):
        return normalize_iban(text)
    match = _DOMESTIC.match(text)
    if match is None:
        raise InvalidValue(LABEL, "neither an IBAN nor prefix-number/bank code")
    if _slovak(match["bank"], country):
        return _slovak_iban(match["prefix"] or "", match["number"], match["bank"])
    return _czech_iban(text)


def _slovak(bank: str, country: str | None) -> bool:
    if bank in _slovak_codes():
        return True
    # stdnum looks a bank up by an account number's code: any number with that code will do
    return country == "SK" and "bank" not in bankaccount.info(f"00/{bank}")


@cache
def _slovak_codes() -> frozenset[str]:
    return frozenset(load_table("bank_codes")["SK"])


def _czech_iban(text: str) -> str:
    try:
        compact = bankaccount.validate(text)  # "000019-2000145399/0800"
    except InvalidComponent as exc:
        raise InvalidValue(LABEL, "unknown Czech bank code") from exc
    except ValidationError as exc:
        raise InvalidValue(LABEL, stdnum_reason(exc)) from exc
    prefix, rest = compact.split("-")
    number, bank = rest.split("/")
    return _iban("CZ", bank, prefix, number)


def _slovak_iban(prefix: str, number: str, bank: str) -> str:
    if _mod11(prefix) or _mod11(number):
        raise InvalidValue(LABEL, "invalid checksum")
    return _iban("SK", bank, prefix.zfill(6), number.zfill(10))


def _mod11(digits: str) -> int:
    return sum(w * int(d) for w, d in zip(_WEIGHTS, digits.zfill(10), strict=True)) % 11


def _iban(country: str, bank: str, prefix: str, number: str) -> str:
    bban = bank + prefix + number
    check = iban.calc_check_digits(f"{country}00{bban}")
    try:
        return iban.validate(f"{country}{check}{bban}")
    except ValidationError as exc:  # a guard: the digits above are made to pass
        raise InvalidValue(LABEL, stdnum_reason(exc)) from exc
