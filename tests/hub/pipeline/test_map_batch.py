"""The hub's map step takes the column-wise path for an accounting view's numbers too, and
gives record for record what map_record gives."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hub.pipeline.map import _as_text, _map_batch
from mappings.engine import load_spec, map_record
from mappings.errors import MappingError

COLUMNS = ["company_name", "ico", "payment_terms_days", "credit_limit"]
ROWS: list[dict[str, Any]] = [  # as a SQL view hands them over and the store keeps them
    {"customer_no": "1", "company_name": "Alfa s.r.o.", "ico": "25596641", "payment_terms_days": 14,
     "credit_limit": "150000.50", "country": "CZ", "phone": "602 123 456"},
    {"customer_no": "2", "company_name": "Beta a.s.", "ico": 25596641, "payment_terms_days": 30.0,
     "credit_limit": 2500, "country": None},
    {"customer_no": "3", "company_name": "Gama", "payment_terms_days": 30.5, "credit_limit": "1.234,567"},
    {"customer_no": "4", "company_name": "Delta", "payment_terms_days": True},  # a bool: map_record's
    {"customer_no": "5", "company_name": "Epsilon", "credit_limit": float("nan")},  # so is NaN
    {"customer_no": "6", "company_name": "Zeta", "ico": "12345678", "payment_terms_days": -1,
     "credit_limit": 1e16, "email": "nobody"},
]


def _engine(spec: Any, payload: dict[str, Any]) -> dict[str, Any] | str:
    try:
        return map_record(spec, payload).present()
    except MappingError as e:
        return str(e)


def test_whole_numbers_and_floats_are_read_as_their_text_and_the_rest_as_before() -> None:
    assert _as_text(ROWS[1], COLUMNS) == {"company_name": "Beta a.s.", "ico": "25596641",
                                          "payment_terms_days": "30.0", "credit_limit": "2500"}
    assert _as_text(ROWS[3], COLUMNS) is None and _as_text(ROWS[4], ["credit_limit"]) is None
    assert _as_text([1, 2], COLUMNS) is None


def test_a_batch_maps_as_map_record_maps_each_record() -> None:
    spec = load_spec("accounting")
    batch = [SimpleNamespace(payload=row) for row in ROWS]
    got = _map_batch(spec, batch)  # type: ignore[arg-type]
    for row, outcome in zip(ROWS, got, strict=True):
        expected = _engine(spec, row)
        if isinstance(expected, str):  # quarantined both ways (the reason quotes the value as text)
            assert isinstance(outcome, str), (row, outcome)
        else:
            assert outcome == expected, row
    assert [isinstance(o, str) for o in got] == [False, False, True, True, True, True]
