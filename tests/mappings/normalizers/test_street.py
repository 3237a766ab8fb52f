import pytest

from mappings.normalizers.street import normalize_house_number, normalize_street_name, split_street


@pytest.mark.parametrize(
    ("raw", "country", "name", "number"),
    [
        ("Školní 531/105", "CZ", "Školní", "531/105"),  # popisné / orientační
        ("Školní 531 / 105", "CZ", "Školní", "531/105"),
        ("Budějovická 778/3a", "CZ", "Budějovická", "778/3a"),
        ("Karlova 3A", "CZ", "Karlova", "3a"),
        ("č.p. 604", "CZ", None, "604"),  # a village without streets
        ("čp. 604", "CZ", None, "604"),
        ("Lhota č. p. 604", "CZ", "Lhota", "604"),
        ("Lhota čp.604", None, "Lhota", "604"),
        ("604/125", "CZ", None, "604/125"),
        ("604", "CZ", None, "604"),
        ("Třída 1. máje 5", "CZ", "Třída 1. máje", "5"),  # a number inside the name stays there
        ("17. listopadu", "CZ", "17. listopadu", None),
        ("nám. Míru 820/9", "CZ", "náměstí Míru", "820/9"),
        ("Nám. SNP 12", "SK", "Námestie SNP", "12"),
        ("Na Příkopě 3, ", "CZ", "Na Příkopě", "3"),
        ("Hauptstraße 5a", "DE", "Hauptstraße", "5a"),
        ("Hauptstraße 5 a", "DE", "Hauptstraße", "5a"),
        ("Hauptstr. 5-7", "DE", "Hauptstraße", "5-7"),
        ("Berliner Str. 12", "DE", "Berliner Straße", "12"),
        ("HAUPTSTRASSE 5", "AT", "HAUPTSTRASSE", "5"),
        ("Hauptstrasse 5", "AT", "Hauptstraße", "5"),
        ("ul. Długa 12/4", "PL", "Długa", "12/4"),
        ("ulica Długa 12", "PL", "Długa", "12"),
        ("al. Jana Pawła II 12", "PL", "aleja Jana Pawła II", "12"),
        ("Školní", "CZ", "Školní", None),
    ],
)
def test_street_line_splits_into_name_and_house_number(raw: str, country: str | None,
                                                       name: str | None, number: str | None) -> None:
    assert (split_street(raw, country).name, split_street(raw, country).house_number) == (name, number)
    assert normalize_street_name(raw, country) == name
    assert normalize_house_number(raw) == number


def test_blank_street_has_no_parts() -> None:
    assert split_street("  ").name is None and split_street("  ").house_number is None
