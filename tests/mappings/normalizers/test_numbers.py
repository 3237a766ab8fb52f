from decimal import Decimal

import pytest

from mappings.errors import InvalidValue
from mappings.normalizers.numbers import format_decimal, parse_decimal, parse_int, parse_money


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("150 000,50", Decimal("150000.50")),
        ("150\u00a0000,50", Decimal("150000.50")),  # no-break space, as Excel writes it
        ("150\u202f000,50", Decimal("150000.50")),  # narrow no-break space
        ("150000,50", Decimal("150000.50")),
        ("150000.50", Decimal("150000.50")),
        ("1.234.567,5", Decimal("1234567.5")),
        ("1,234,567.5", Decimal("1234567.5")),
        ("1.234.567", Decimal("1234567")),
        ("-2 500,00", Decimal("-2500.00")),
        (Decimal("10.5"), Decimal("10.5")),
        (42, Decimal("42")),
        (0.1, Decimal("0.1")),
    ],
)
def test_parse_decimal(raw: object, expected: Decimal) -> None:
    assert parse_decimal(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "12,5 Kč", "NaN", "Infinity", True])
def test_not_a_number(raw: object) -> None:
    with pytest.raises(InvalidValue):
        parse_decimal(raw)


def test_money_has_two_places() -> None:
    assert str(parse_money("150000,5")) == "150000.50"
    assert str(parse_money(150000)) == "150000.00"
    with pytest.raises(InvalidValue, match="more than 2 decimal places"):
        parse_money("10,125")


def test_parse_int() -> None:
    assert parse_int("30") == 30
    assert parse_int(" 30 ") == 30
    assert parse_int("30,0") == 30
    assert parse_int(14) == 14
    with pytest.raises(InvalidValue, match="not a whole number"):
        parse_int("30,5")


def test_format_decimal_with_the_systems_mark() -> None:
    assert format_decimal(Decimal("150000.50"), decimal_comma=True) == "150000,50"
    assert format_decimal(Decimal("150000.50"), decimal_comma=False) == "150000.50"
    assert format_decimal(Decimal("1.5E+5"), decimal_comma=True) == "150000"
