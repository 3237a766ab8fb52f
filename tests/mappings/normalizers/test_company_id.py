import pytest

from mappings.errors import InvalidValue
from mappings.normalizers.company_id import ico_from_dic, normalize_company_id, normalize_ico


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("25596641", "25596641"),
        ("27074358", "27074358"),
        (" 250 63 677 ", "25063677"),
        ("12343", "00012343"),  # a system that stores numbers lost the leading zeros
        (12343, "00012343"),
        ("68407700", "68407700"),
        ("12345679", "12345679"),
    ],
)
def test_valid_ico_is_eight_digits(raw: object, expected: str) -> None:
    assert normalize_ico(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("12345678", "invalid checksum"),
        ("25596642", "invalid checksum"),
        ("CZ25596641", "not a number"),  # a DIČ typed into the IČO field
        ("123456789", "more than 8 digits"),
        ("2559664a", "not a number"),
    ],
)
def test_invalid_ico_says_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_ico(raw)
    assert caught.value.reason == reason
    assert caught.value.label == "ICO"


def test_check_digit_edge_cases_of_the_mod11_rule() -> None:
    # remainder 0 gives check digit 1 and remainder 1 gives 0 (not 11 or 10)
    assert normalize_ico("00000001") == "00000001"
    assert normalize_ico("00000060") == "00000060"


def test_slovak_ico_uses_the_same_rule() -> None:
    assert normalize_company_id("35 757 442", "SK") == "35757442"
    with pytest.raises(InvalidValue):
        normalize_company_id("35757443", "SK")


def test_unknown_country_is_read_as_czech() -> None:
    assert normalize_company_id("25596641", None) == "25596641"


def test_other_countries_keep_their_id_compact() -> None:
    assert normalize_company_id("HRB 12345", "DE") == "HRB12345"
    assert normalize_company_id("FN 123456 a", "AT") == "FN123456A"


@pytest.mark.parametrize(
    ("dic", "country", "ico"),
    [
        ("CZ25596641", "CZ", "25596641"),  # a company: CZ + its IČO
        ("CZ 255 96 641", None, "25596641"),
        ("cz25596641", "SK", "25596641"),  # the prefix says Czech, whatever the record's country
        ("25596641", "CZ", "25596641"),  # the prefix left out, read in the record's country
        ("CZ7103192745", "CZ", None),  # a natural person: the birth number, no IČO
        ("CZ710319274", "CZ", None),
        ("SK2020317068", "SK", None),  # a Slovak DIČ is unrelated to the IČO
        ("25596641", "SK", None),
        ("CZ25596642", "CZ", None),  # not a valid IČO: the VAT field reports it
    ],
)
def test_ico_from_a_czech_companys_dic(dic: str, country: str | None, ico: str | None) -> None:
    assert ico_from_dic(dic, country) == ico


def test_company_key_keeps_colliding_czech_and_slovak_ids_apart() -> None:
    from mappings.normalizers.company_id import company_key, company_key_from_dic

    assert company_key("35 757 442", "SK") != company_key("35757442", "CZ")
    assert company_key("35 757 442", "SK") == "SK:35757442"
    assert company_key("Amtsgericht Hamburg, HRB 470634", "DE") == "DE:HRB470634"
    assert company_key_from_dic("CZ25596641", "CZ") == company_key("25596641", "CZ") == "CZ:25596641"
    assert company_key_from_dic("CZ7103192745", "CZ") is None
