import pytest

from mappings.errors import InvalidValue
from mappings.normalizers.email import normalize_email
from mappings.normalizers.iban import normalize_iban
from mappings.normalizers.text import normalize_text


def test_iban_is_compact_upper_case() -> None:
    assert normalize_iban("cz65 0800 0000 1920 0014 5399") == "CZ6508000000192000145399"
    assert normalize_iban("DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("CZ65 0800 0000 1920 0014 5398", "invalid checksum"), ("CZ65 0800", "invalid checksum")],
)
def test_invalid_iban(raw: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_iban(raw)
    assert caught.value.reason == reason


def test_email_is_trimmed_lower_case() -> None:
    assert normalize_email("  Info@Dvorak-Syn.CZ ") == "info@dvorak-syn.cz"
    assert normalize_email("MAILTO:fakturace@firma.cz") == "fakturace@firma.cz"


@pytest.mark.parametrize("raw", ["info@", "info firma@x.cz", "info@localhost", "a@b@c.cz"])
def test_invalid_email(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_email(raw)


def test_text_is_nfc_with_single_spaces() -> None:
    decomposed = "Dvor\u030cák  a\u00a0syn\t s.r.o. "  # "ř" as r + combining háček, nbsp, tab
    assert normalize_text(decomposed) == "Dvořák a syn s.r.o."


def test_text_keeps_diacritics_and_case() -> None:
    assert normalize_text("Dvořák") != normalize_text("Dvorak")
    assert normalize_text("ABC s.r.o.") == "ABC s.r.o."


def test_blank_text_is_none() -> None:
    assert normalize_text(" \u00a0 ") is None
