import pytest

from mappings.errors import InvalidValue
from mappings.normalizers.country import normalize_country


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CZ", "CZ"),
        ("cz", "CZ"),
        ("CZE", "CZ"),
        ("Czechia", "CZ"),
        ("Czech Republic", "CZ"),
        ("Česko", "CZ"),
        ("Česká republika", "CZ"),
        ("  česká   republika ", "CZ"),
        ("ČR", "CZ"),
        ("Slovensko", "SK"),
        ("Slovenská republika", "SK"),
        ("SVK", "SK"),
        ("Německo", "DE"),
        ("Deutschland", "DE"),
        ("Rakousko", "AT"),
        ("Österreich", "AT"),
        ("Polsko", "PL"),
        ("Maďarsko", "HU"),
        ("Germany", "DE"),
        ("UK", "GB"),
        ("EL", "GR"),
    ],
)
def test_country_is_alpha2(raw: str, expected: str) -> None:
    assert normalize_country(raw) == expected


def test_unknown_country() -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_country("Absurdistán")
    assert caught.value.reason == "unknown country"
