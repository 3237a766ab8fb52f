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


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("D-80331", "DE", "80331"),
        ("DE-80331", "DE", "80331"),
        ("D 01067", "DE", "01067"),
        ("PL-65001", "PL", "65-001"),
        ("65-001", "PL", "65-001"),
        ("65001", "PL", "65-001"),
        ("65 001", "PL", "65-001"),
        ("A-1010", "AT", "1010"),
        ("A1010", "AT", "1010"),
        ("AT-1010", "AT", "1010"),
        ("H-1051", "HU", "1051"),
        ("SLO-1000", "SI", "1000"),
        ("SI-1000", "SI", "1000"),
        ("CH-8001", "CH", "8001"),
        ("SK-811 01", "SK", "81101"),
        ("CS-110 00", "CZ", "11000"),  # Czechoslovakia's prefix, on letterheads older than 1993
        ("cz-110 00", None, "11000"),
    ],
)
def test_foreign_postal_codes_in_their_countrys_shape(raw: str, country: str | None,
                                                      expected: str) -> None:
    assert normalize_postal_code(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("D-80331", "CZ", "a DE postal code, the record's country is CZ"),  # country read wrong
        ("PL-65001", "DE", "a PL postal code, the record's country is DE"),
        ("8033", "DE", "not 5 digits"),
        ("10100", "AT", "not 4 digits"),
        ("6500", "PL", "not ##-###"),
        ("D-80331", None, "a DE postal code, the record has no country"),
    ],
)
def test_a_postal_code_that_does_not_fit_its_country(raw: str, country: str | None,
                                                      reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_postal_code(raw, country)
    assert caught.value.reason == reason
