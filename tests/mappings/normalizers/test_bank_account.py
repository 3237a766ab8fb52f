import pytest
from stdnum import iban

from mappings.errors import InvalidValue
from mappings.normalizers.bank_account import normalize_bank_account


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("19-2000145399/0800", "CZ", "CZ6508000000192000145399"),  # the account
        ("19-2000145399 / 0800", None, "CZ6508000000192000145399"),  # country unknown: Czech
        ("000019-2000145399/0800", "CZ", "CZ6508000000192000145399"),
        ("2000145399/0800", "CZ", "CZ7908000000002000145399"),  # no prefix
        ("CZ65 0800 0000 1920 0014 5399", "CZ", "CZ6508000000192000145399"),  # already an IBAN
        ("19-8742637541/1200", "SK", "SK3112000000198742637541"),  # Slovak, same structure
        ("SK31 1200 0000 1987 4263 7541", "SK", "SK3112000000198742637541"),
        ("DE89 3704 0044 0532 0130 00", "DE", "DE89370400440532013000"),
        ("2625232222/1100", "CZ", "SK0811000000002625232222"),  # Tatra banka: Slovak, whoever holds it
        ("19-2000145399/0800", "SK", "CZ6508000000192000145399"),  # Česká spořitelna: Czech
        ("2000145399/0800", "DE", "CZ7908000000002000145399"),
    ],
)
def test_domestic_accounts_become_iban(raw: str, country: str | None, expected: str) -> None:
    assert normalize_bank_account(raw, country) == expected
    assert iban.is_valid(expected)


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("19-2000145398/0800", "CZ", "invalid checksum"),
        ("18-2000145399/0800", "CZ", "invalid checksum"),  # the prefix has its own check
        ("2000145399/0000", "CZ", "unknown Czech bank code"),
        ("19-8742637542/1200", "SK", "invalid checksum"),
        ("2000145399", "CZ", "neither an IBAN nor prefix-number/bank code"),  # no bank code
        ("2000145399/1200", "DE", "unknown Czech bank code"),  # neither list: read as Czech
        ("CZ66 0800 0000 1920 0014 5399", "CZ", "invalid checksum"),
    ],
)
def test_bad_accounts_say_why(raw: str, country: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_bank_account(raw, country)
    assert caught.value.reason == reason


def test_the_accounting_spec_keeps_a_domestic_account() -> None:
    from mappings.engine import load_spec, map_record

    record = {"customer_no": "1", "iban": "19-2000145399/0800", "country": "CZ"}
    assert map_record(load_spec("accounting"), record).iban == "CZ6508000000192000145399"
