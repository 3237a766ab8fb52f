import pytest

from mappings.errors import InvalidValue
from mappings.normalizers.vat import normalize_vat


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("CZ25596641", None, "CZ25596641"),
        ("cz 255 96 641", None, "CZ25596641"),
        ("CZ-25596641", None, "CZ25596641"),
        ("25596641", "CZ", "CZ25596641"),  # prefix from the record's country
        ("CZCZ25596641", None, "CZ25596641"),  # prefix pasted twice
        ("SK2022749619", None, "SK2022749619"),
        ("DE 136 695 976", None, "DE136695976"),
        ("ATU13585627", None, "ATU13585627"),
        ("atu 135 856 27", None, "ATU13585627"),
        ("PL 856-734-62-15", None, "PL8567346215"),
        ("EL094259216", None, "EL094259216"),
        ("GR094259216", None, "EL094259216"),  # ISO code where VAT uses EL
        ("094259216", "GR", "EL094259216"),
    ],
)
def test_vat_is_compact_with_prefix(raw: str, country: str | None, expected: str) -> None:
    assert normalize_vat(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("CZ25596642", None, "invalid checksum"),
        ("DE136695977", None, "invalid checksum"),
        ("CZ1234", None, "invalid length"),
        ("25596641", None, "no country prefix and no country"),
        ("US123456789", None, "no EU VAT rule for country prefix 'US'"),
    ],
)
def test_invalid_vat_says_why(raw: str, country: str | None, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_vat(raw, country)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        ("12892312-2-41", "HU"),  # adószám: törzsszám, VAT code, county
        ("12892312 2 41", "HU"),
        ("HU12892312-2-41", "CZ"),  # the prefix says Hungarian
        ("HU 12892312", None),
        ("12892312", "HU"),
    ],
)
def test_hungarian_tax_number_is_accepted_as_vat(raw: str, country: str | None) -> None:
    assert normalize_vat(raw, country) == "HU12892312"


def test_hungarian_tax_number_checksum_by_stdnum() -> None:
    with pytest.raises(InvalidValue, match="invalid checksum"):
        normalize_vat("12892313-2-41", "HU")
