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


MIXED = ["27074358", "1603094", "25596641", "123456789", "12a", "", " 270 743 58 "]


def _answer(result) -> tuple:
    """What a registry check reads of an answer: found or not and the subject, or the error's
    kind and what the check records."""
    if isinstance(result, Exception):
        return type(result).__name__, result.outcome, result.detail
    return result.found, result.ico, result.payload


@pytest.mark.parametrize("bulk_size", [1000, 2])
def test_bulk_answers_equal_the_one_by_one_answers(ares_conn, ares_service, bulk_size):
    ares = AresConnector(Settings(retry_attempts=3, bulk_size=bulk_size, **FAST_RETRY), ares_conn)
    one_by_one = {}
    for ico in MIXED:
        try:
            one_by_one[ico] = _answer(ares.lookup(ico))
        except BadRecordError as exc:
            one_by_one[ico] = _answer(exc)
    served = ares_service.requests_served
    bulk = ares.lookup_many(MIXED)
    assert {ico: _answer(r) for ico, r in bulk.items()} == one_by_one
    assert bulk["25596641"].error["kod"] == "NENALEZENO"
    # 3 distinct well-formed IČOs: one request, or two of at most 2; the malformed never sent
    assert ares_service.requests_served - served == ares_service.searches == (1 if bulk_size
                                                                               > 2 else 2)


def test_bulk_pages_until_every_listed_subject_came(ares, ares_service):
    ares_service.page_max = 1  # ARES caps a page: the client must page on
    answers = ares.lookup_many(["27074358", "01603094", "25596641"])
    assert [answers[i].found for i in ("27074358", "01603094", "25596641")] == [True, True, False]
    assert ares_service.searches == 2  # pocetCelkem 2, one subject a page


def test_a_failing_bulk_request_is_each_icos_error(ares, ares_service):
    ares_service.fail_next(*["obecna_chyba"] * 3)
    answers = ares.lookup_many(["27074358", "25596641"])
    assert all(isinstance(a, TransientError) for a in answers.values())
