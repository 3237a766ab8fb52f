"""Foreign company register numbers parsed into a typed id: its register's scheme and number.

Exports write one German company as "Amtsgericht Hamburg, HRB 470634", "HRB 470634" or
"HRB470634"; an Austrian one as "FN 446599 p", "FN446599P" or "446599p"; a Polish one by
its KRS, REGON or NIP. Each country's numbers are read by python-stdnum where it has a
module (de.handelsregisternummer, at.businessid, pl.regon, pl.nip, si.maticna).

The canonical ``company_id`` is ``RegisterId.key``, the scheme and the number compact
("HRB470634", "FN446599P", "KRS0000123456", "CG0109123456"). The German court is parsed
(``RegisterId.court``) but left out of the key: one record names it and another does not,
and company_id is an exclusive key, where two different values keep two records apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stdnum.at import businessid
from stdnum.de import handelsregisternummer
from stdnum.exceptions import ValidationError
from stdnum.pl import nip, regon
from stdnum.si import maticna

from mappings.errors import InvalidValue
from mappings.normalizers._common import stdnum_reason

LABEL = "register number"


@dataclass(frozen=True)
class RegisterId:
    """A company's number in its country's register: ("DE", "HRB", "470634", "Hamburg")."""

    country: str
    scheme: str
    number: str
    court: str | None = None  # the German register court, where the record names it

    @property
    def key(self) -> str:
        return f"{self.scheme}{self.number}"


_DE = re.compile(r"(?P<registry>HRA|HRB|GnR|PR|VR)\s*(?P<nr>[1-9]\d{0,5})"
                 r"(?:\s*(?P<x>[A-Z]{1,3}))?\b", re.IGNORECASE)
# What stands before the court's name: "Amtsgericht Hamburg", "AG Hamburg", "Registergericht: …".
_COURT_WORDS = re.compile(r"^(?:Amtsgericht|Registergericht|AG)\b[\s:,-]*", re.IGNORECASE)
_AT = re.compile(r"^(?:FN)?\s*(?P<nr>\d{1,6}\s*[A-Z])$", re.IGNORECASE)
_PL_LABEL = re.compile(r"^(?P<scheme>KRS|REGON|NIP)[\s:.\-]*(?P<nr>[\d\s\-]+)$", re.IGNORECASE)
_HU = re.compile(r"^(?:CG\.?\s*)?(?P<court>\d{2})[\s\-]*(?P<form>\d{2})[\s\-]*(?P<nr>\d{6})$",
                 re.IGNORECASE)
_SI = re.compile(r"^(?:MŠ|MS|matična številka)?[\s:.]*(?P<nr>\d{7}(?:\d{3})?)$", re.IGNORECASE)
_GAPS = re.compile(r"[\s\-]")


def _german(text: str) -> RegisterId:
    match = _DE.search(text)
    if match is None:
        raise InvalidValue(LABEL, "no HRA/HRB/GnR/PR/VR number")
    registry = next(r for r in handelsregisternummer.REGISTRY_TYPES
                    if r.upper() == match["registry"].upper())
    court = _court(text[: match.start()] + " " + text[match.end():], registry, match["nr"])
    suffix = (match["x"] or "").upper()
    return RegisterId("DE", registry.upper(), match["nr"] + suffix, court)


def _court(rest: str, registry: str, number: str) -> str | None:
    """The court as stdnum names it ("Berlin (Charlottenburg)"); as written if it knows none."""
    written = _COURT_WORDS.sub("", rest.strip(" ,;:-")).strip(" ,;:-")
    if not written:
        return None
    try:
        valid = handelsregisternummer.validate(f"{written} {registry} {number}")
        return valid.rsplit(f" {registry} ", 1)[0]
    except ValidationError:
        return written


def _austrian(text: str) -> RegisterId:
    match = _AT.match(text)
    try:
        number = businessid.validate((match["nr"] if match else text).lower())
    except ValidationError as exc:
        raise InvalidValue(LABEL, "not a Firmenbuch number (FN 123456 a)") from exc
    return RegisterId("AT", "FN", number.upper())


def _polish(text: str) -> RegisterId:
    match = _PL_LABEL.match(text)
    digits = _GAPS.sub("", match["nr"] if match else text)
    scheme = match["scheme"].upper() if match else _polish_scheme(digits)
    if not digits.isdigit():
        raise InvalidValue(LABEL, "not a KRS, REGON or NIP")
    if scheme == "KRS":
        if len(digits) > 10:
            raise InvalidValue(LABEL, "KRS: more than 10 digits")
        return RegisterId("PL", "KRS", digits.zfill(10))
    check = regon.validate if scheme == "REGON" else nip.validate
    try:
        return RegisterId("PL", scheme, check(digits))
    except ValidationError as exc:
        raise InvalidValue(LABEL, f"{scheme}: {stdnum_reason(exc)}") from exc


def _polish_scheme(digits: str) -> str:
    """Unlabelled: REGON has 9 or 14 digits; a KRS number is zero-padded to 10 (no register
    has reached a million), a NIP's first three digits name a tax office, never 000."""
    if len(digits) in (9, 14):
        return "REGON"
    return "KRS" if digits.startswith("000") or len(digits) < 9 else "NIP"


def _hungarian(text: str) -> RegisterId:
    """Cégjegyzékszám "01-09-123456": the court (01-20), the company form, the serial."""
    match = _HU.match(text)
    if match is None or not 1 <= int(match["court"]) <= 20:
        raise InvalidValue(LABEL, "not a cégjegyzékszám (01-09-123456)")
    return RegisterId("HU", "CG", match["court"] + match["form"] + match["nr"])


def _slovene(text: str) -> RegisterId:
    match = _SI.match(text)
    try:
        return RegisterId("SI", "MS", maticna.validate(match["nr"] if match else text))
    except ValidationError as exc:
        raise InvalidValue(LABEL, f"matična številka: {stdnum_reason(exc)}") from exc


PARSERS: dict[str, Callable[[str], RegisterId]] = {
    "DE": _german, "AT": _austrian, "PL": _polish, "HU": _hungarian, "SI": _slovene,
}


def parse_register_id(text: str, country: str) -> RegisterId | None:
    """The typed id of a register number written in ``country``; None for a country whose
    register this module does not read (the caller keeps the number compact)."""
    parser = PARSERS.get(country)
    return None if parser is None else parser(" ".join(text.split()))
