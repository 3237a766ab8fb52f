import pytest

from mappings.errors import InvalidValue
from mappings.normalizers.address import normalize_postal_code, normalize_street


@pytest.mark.parametrize(
    ("raw", "country"),
    [("110 00", "CZ"), ("11000", "CZ"), (11000, "CZ"), ("CZ-110 00", "CZ"), ("110\u00a000", None)],
)
def test_czech_postal_code_is_five_digits(raw: object, country: str | None) -> None:
    assert normalize_postal_code(raw, country) == "11000"


def test_slovak_postal_code() -> None:
    assert normalize_postal_code("811 01", "SK") == "81101"


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [("00-950", "PL", "00-950"), (" 1010 ", "AT", "1010"), ("sw1a  1aa", "GB", "SW1A 1AA")],
)
def test_other_postal_codes_keep_their_shape(raw: str, country: str, expected: str) -> None:
    assert normalize_postal_code(raw, country) == expected


@pytest.mark.parametrize("raw", ["1100", "110 000", "Praha"])
def test_invalid_czech_postal_code(raw: str) -> None:
    with pytest.raises(InvalidValue, match="not 5 digits"):
        normalize_postal_code(raw, "CZ")


def test_street_whitespace_and_house_number_slash() -> None:
    assert normalize_street("  Družstevní   338 / 16 ") == "Družstevní 338/16"
    assert normalize_street("Budějovická 778/3a") == "Budějovická 778/3a"
    assert normalize_street("   ") is None
