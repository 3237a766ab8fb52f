"""Differences against the golden record, and the corrections they give."""

from __future__ import annotations

import polars as pl

from reconciliation.diff import correction_key, correction_keys, corrections, differences, differences_many
from reconciliation.records import Golden, MemberRecord

GOLDEN = Golden({"street": "Nová 1", "phone": "+420601000001", "email": "info@alfa.cz"},
                {"street": {"source": "crm", "record_id": "C1", "rule": "source_priority"},
                 "phone": {"source": "accounting", "record_id": "A1", "rule": "source_priority"},
                 "email": {"source": "crm", "record_id": "C1", "rule": "source_priority"}})
CRM = MemberRecord("crm", "C1", {"street": "Nová 1", "phone": "+420601000009", "email": "info@alfa.cz"})
ACC = MemberRecord("accounting", "A1", {"street": "Stará 2", "phone": "+420601000001"})
ERP = MemberRecord("erp", "E1", {"street": "Stará 2", "phone": "+420601000001", "email": None})
CARRIES = {"crm": {"street", "phone", "email"}, "accounting": {"street", "phone"}, "erp": {"street", "phone"}}
RECEIVES = {"crm": ["phone"], "accounting": ["street", "phone"]}


def test_every_carried_field_that_differs_is_found_and_only_received_ones_are_corrected() -> None:
    found = differences(GOLDEN, [ERP, CRM, ACC], RECEIVES, CARRIES)
    assert [(d.system, d.record_id, d.field, d.system_value, d.golden_value, d.correct) for d in found] == [
        ("accounting", "A1", "street", "Stará 2", "Nová 1", True),
        ("crm", "C1", "phone", "+420601000009", "+420601000001", True),
        ("erp", "E1", "street", "Stará 2", "Nová 1", False)]  # the ERP receives nothing: reported only
    assert corrections(found) == {("accounting", "A1"): {"street": "Nová 1"},
                                  ("crm", "C1"): {"phone": "+420601000001"}}


def test_an_empty_golden_value_never_blanks_a_system_and_a_field_not_carried_is_left_alone() -> None:
    golden = Golden({"street": "Nová 1"}, {"street": {"source": "crm", "record_id": "C1"}})
    member = MemberRecord("accounting", "A1", {"street": "Nová 1", "phone": "+420601000001", "iban": "X"})
    assert differences(golden, [member], RECEIVES, CARRIES) == []


def test_a_held_field_is_reported_not_corrected_and_only_in_its_own_entity() -> None:
    other = Golden({"street": "Jiná 5"}, {"street": {"source": "crm", "record_id": "C2"}})
    member = MemberRecord("accounting", "A2", {"street": "Stará 2"})
    found = differences_many({"H1": (GOLDEN, [CRM, ACC]), "H2": (other, [member])}, RECEIVES, CARRIES,
                             ["street", "phone", "email"], held={"H1": {"street"}})
    assert [(d.record_id, d.field, d.correct) for d in found["H1"]] == [("A1", "street", False), ("C1", "phone", True)]
    assert [(d.record_id, d.field, d.golden_value, d.correct) for d in found["H2"]] == [("A2", "street", "Jiná 5", True)]


def test_the_column_wise_outbox_keys_are_the_keys_of_each_correction() -> None:
    due = {("crm", "C1"): ({"street": "Nová 1", "phone": "+420601000001"}, "h1"),
           ("erp", "E:7"): ({"legal_name": "Žluťoučký kůň, s.r.o.", "payment_terms_days": 30}, None),
           ("accounting", "A1"): ({"street": "Nová 1"}, "h2")}
    records = pl.DataFrame([(row, s, r, h) for row, ((s, r), (_, h)) in enumerate(due.items())],
                           schema=["row", "system", "record_id", "state"], orient="row")
    fields = pl.DataFrame([(row, f, str(v)) for row, (values, _) in enumerate(due.values()) for f, v in values.items()],
                          schema=["row", "field", "golden"], orient="row")
    for slice_rows in (1, 2, 100):
        keys = dict(correction_keys(fields.reverse(), records, slice_rows).iter_rows())
        assert keys == {row: correction_key(*key, values, h) for row, (key, (values, h)) in enumerate(due.items())}
    assert len(set(keys.values())) == 3
    # The key follows the state being corrected: another source state is another correction.
    assert correction_key("crm", "C1", {"street": "Nová 1"}, "h1") != correction_key("crm", "C1", {"street": "Nová 1"}, "h9")
