"""Mojibake (UTF-8 read in a one-byte code page) is repaired before a value is normalized."""

import pytest

from mappings.normalizers import NORMALIZERS
from mappings.normalizers.legal_form import legal_form_from_name
from mappings.normalizers.text import normalize_text, repair_mojibake

REAL = ["Novák", "Dvořák a syn s.r.o.", "Školní 531/105", "Ústí nad Labem", "Štúrova",
        "Żółć Sp. z o.o.", "Müller GmbH", "Plzeň", "Žižkov", "Őrség Kft.", "Łódź"]


def _broken(real: str, page: str) -> str | None:
    """``real``'s UTF-8 bytes read in ``page``; None where the page has no character for one."""
    try:
        return real.encode("utf-8").decode(page)
    except UnicodeDecodeError:
        return None


BROKEN = [(broken, real) for real in REAL for page in ("cp1250", "cp1252", "latin-1")
          if (broken := _broken(real, page)) is not None]


@pytest.mark.parametrize(("broken", "real"), BROKEN)
def test_utf8_read_in_a_one_byte_page_is_repaired(broken: str, real: str) -> None:
    assert normalize_text(broken) == real


def test_every_page_is_tried() -> None:
    assert len(BROKEN) >= 3 * len(REAL) - 6


@pytest.mark.parametrize(
    ("broken", "real"),
    [("NovĂˇk", "Novák"), ("DvoĹ™Ăˇk a syn s.r.o.", "Dvořák a syn s.r.o."),
     ("MÃ¼ller GmbH", "Müller GmbH"), ("Ĺ˝iĹľkov", "Žižkov")],
)
def test_the_spellings_seen_in_exports(broken: str, real: str) -> None:
    assert normalize_text(broken) == real


@pytest.mark.parametrize("text", [*REAL, "ÚŠTĚK", "LÍŠEŇ", "ČSOB a.s.", "Győr", "Hauptstraße",
                                  "Praha 4 – Nusle", "Třebíč", "Nagy és Társa", "© Firma"])
def test_real_text_is_left_as_it_is(text: str) -> None:
    assert repair_mojibake(text) == text


def _cp1250(text: str) -> str:
    return text.encode("utf-8").decode("cp1250")


def test_the_address_and_name_normalizers_repair_too() -> None:
    assert NORMALIZERS["street_name"](_cp1250("Školní 531/105"), "CZ") == "Školní"
    assert NORMALIZERS["house_number"](_cp1250("Školní 531/105"), "CZ") == "531/105"
    assert NORMALIZERS["city"](_cp1250("Brünn"), None) == "Brno"
    assert NORMALIZERS["city"](_cp1250("Třebíč"), None) == "Třebíč"
    assert NORMALIZERS["street"]("MĂˇchova 5", None) == "Máchova 5"
    assert legal_form_from_name(_cp1250("Kowalski Spółka z o.o.")) == "Sp. z o.o."
