import pytest

from mappings.errors import InvalidValue
from mappings.normalizers.phone import normalize_phone


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        ("+420 602 123 456", None),
        ("+420 602 123 456", "SK"),  # an international number ignores the region
        ("602123456", "CZ"),
        ("602 123 456", "CZ"),
        ("00420602123456", "CZ"),
        ("(+420) 602-123-456", "CZ"),
        (602123456, "CZ"),
    ],
)
def test_czech_mobile_in_any_spelling_is_one_e164(raw: object, country: str | None) -> None:
    assert normalize_phone(raw, country) == "+420602123456"


def test_national_number_is_read_in_the_records_country() -> None:
    assert normalize_phone("0905 123 456", "SK") == "+421905123456"
    assert normalize_phone("030 1234567", "DE") == "+49301234567"


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("602123456", None, "national number and no country to read it in"),
        ("+420 123 456 789", None, "not a valid number"),  # no Czech number starts with 1
        ("volat po 17h", "CZ", "not a phone number"),
    ],
)
def test_invalid_phone_says_why(raw: str, country: str | None, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_phone(raw, country)
    assert caught.value.reason == reason
