"""AresConnector against the sandbox ARES over loopback, with real requests."""

from __future__ import annotations

import pytest

from connectors.errors import BadRecordError, TransientError
from connectors.registries.ares import AresConnector, Settings, pad_ico
from tests.fixtures.soap import FAST_RETRY

pytestmark = pytest.mark.integration


@pytest.fixture
def ares(ares_conn) -> AresConnector:
    return AresConnector(Settings(retry_attempts=3, **FAST_RETRY), ares_conn)


def test_found_returns_the_raw_v3_subject(ares):
    result = ares.lookup("27074358")
    assert result.found and result.status == 200 and result.ico == "27074358"
    assert result.payload["obchodniJmeno"] == "Asseco Central Europe, a.s."
    assert result.payload["sidlo"]["psc"] == 14000
    assert result.payload["dic"] == "CZ27074358"


def test_short_ico_is_left_padded(ares):
    result = ares.lookup("1603094")
    assert result.found and result.ico == "01603094"
    assert result.payload["datumZaniku"] == "2023-06-30"  # dissolved, but still found


def test_not_found(ares):
    result = ares.lookup("25596641")
    assert not result.found and result.status == 404 and result.payload == {}
    assert result.error["kod"] == "NENALEZENO"


def test_malformed_ico_is_a_bad_record(ares):
    with pytest.raises(BadRecordError) as err:
        ares.lookup("123456789")
    assert err.value.detail == "CHYBA_VSTUPU"


def test_server_error_is_retried(ares, ares_service):
    ares_service.fail_next("obecna_chyba", "http503")
    assert ares.lookup("27074358").found
    assert ares_service.requests_served == 3


def test_persistent_server_error_is_transient(ares, ares_service):
    ares_service.fail_next(*["obecna_chyba"] * 3)
    with pytest.raises(TransientError):
        ares.lookup("27074358")


def test_test_connection(ares):
    assert ares.test_connection()[0]


@pytest.mark.parametrize(("raw", "expected"), [
    ("1603094", "01603094"), (" 270 743 58 ", "27074358"), ("123456789", "123456789"),
    ("12a", "12a"),
])
def test_pad_ico(raw, expected):
    assert pad_ico(raw) == expected


def test_unknown_new_fields_are_tolerated(ares, ares_service):
    from mappings.engine import load_spec, map_record

    subject = dict(ares_service.subjects["27074358"])
    subject["novyUdaj2027"] = {"cokoliv": [1, 2]}  # a field ARES adds one day
    ares_service.subjects["27074358"] = subject
    result = ares.lookup("27074358")
    assert result.payload["novyUdaj2027"] == {"cokoliv": [1, 2]}
    assert map_record(load_spec("ares"), result.payload).legal_name == "Asseco Central Europe, a.s."
