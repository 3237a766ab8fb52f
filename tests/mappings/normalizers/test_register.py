import pytest

from mappings.errors import InvalidValue
from mappings.normalizers.company_id import normalize_company_id
from mappings.normalizers.register import RegisterId, parse_register_id


@pytest.mark.parametrize(
    ("raw", "country", "typed"),
    [
        ("Amtsgericht Hamburg, HRB 470634", "DE", RegisterId("DE", "HRB", "470634", "Hamburg")),
        ("HRB 470634", "DE", RegisterId("DE", "HRB", "470634")),
        ("HRB470634", "DE", RegisterId("DE", "HRB", "470634")),
        ("hrb 470634 Hamburg", "DE", RegisterId("DE", "HRB", "470634", "Hamburg")),
        ("AG Charlottenburg HRB 12345 B", "DE", RegisterId("DE", "HRB", "12345B", "Berlin (Charlottenburg)")),
        ("Amtsgericht München, HRA 98765", "DE", RegisterId("DE", "HRA", "98765", "München")),
        ("FN 446599 p", "AT", RegisterId("AT", "FN", "446599P")),
        ("FN446599P", "AT", RegisterId("AT", "FN", "446599P")),
        ("446599p", "AT", RegisterId("AT", "FN", "446599P")),
        ("KRS 0000123456", "PL", RegisterId("PL", "KRS", "0000123456")),
        ("KRS: 123456", "PL", RegisterId("PL", "KRS", "0000123456")),
        ("REGON 123456785", "PL", RegisterId("PL", "REGON", "123456785")),
        ("123456785", "PL", RegisterId("PL", "REGON", "123456785")),  # 9 digits: a REGON
        ("NIP 123-456-32-18", "PL", RegisterId("PL", "NIP", "1234563218")),
        ("123-456-32-18", "PL", RegisterId("PL", "NIP", "1234563218")),
        ("01-09-123456", "HU", RegisterId("HU", "CG", "0109123456")),  # cégjegyzékszám
        ("Cg. 01-09-123456", "HU", RegisterId("HU", "CG", "0109123456")),
        ("5300231", "SI", RegisterId("SI", "MS", "5300231")),
    ],
)
def test_register_numbers_are_typed(raw: str, country: str, typed: RegisterId) -> None:
    assert parse_register_id(raw, country) == typed


@pytest.mark.parametrize(
    ("spellings", "country", "key"),
    [
        (["Amtsgericht Hamburg, HRB 470634", "HRB 470634", "HRB470634"], "DE", "HRB470634"),
        (["FN 446599 p", "FN446599P", "446599p"], "AT", "FN446599P"),
        (["KRS 0000123456", "0000123456"], "PL", "KRS0000123456"),
    ],
)
def test_one_company_id_for_every_spelling(spellings: list[str], country: str, key: str) -> None:
    assert {normalize_company_id(s, country) for s in spellings} == {key}


def test_polish_nip_and_regon_stay_apart() -> None:
    assert normalize_company_id("1234563218", "PL") == "NIP1234563218"
    assert normalize_company_id("123456785", "PL") == "REGON123456785"


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("470634", "DE", "no HRA/HRB/GnR/PR/VR number"),
        ("FN 12345", "AT", "not a Firmenbuch number (FN 123456 a)"),
        ("REGON 123456786", "PL", "REGON: invalid checksum"),
        ("1234567890", "PL", "NIP: invalid checksum"),
        ("25-09-123456", "HU", "not a cégjegyzékszám (01-09-123456)"),
    ],
)
def test_bad_register_numbers_say_why(raw: str, country: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_company_id(raw, country)
    assert caught.value.reason == reason


def test_countries_without_a_parser_keep_the_number_compact() -> None:
    assert normalize_company_id("B 123.456.789", "BE") == "B123456789"
