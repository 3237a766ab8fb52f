"""The address survives as one: street, city, postal code and country from one record."""

from __future__ import annotations

from reconciliation.records import MemberRecord
from reconciliation.survivorship import ADDRESS, golden_frame, members_frame, survive
from reconciliation.survivorship_rules import rule_named

SOURCES = ("crm", "accounting", "erp")
FIELDS = [*ADDRESS, "legal_name"]


def _rules(rule: str = "source_priority", country_sources: tuple[str, ...] = SOURCES) -> dict:
    rules = {f: rule_named(rule, SOURCES) for f in FIELDS}
    rules["country"] = rule_named("source_priority", country_sources)  # a group follows its lead field
    return rules


def test_the_measured_mix_cannot_happen_every_part_comes_from_the_street_s_record() -> None:
    # The CRM knows the street and city but not the country; the ERP has another address in LU.
    crm = MemberRecord("crm", "C1", {"street": "Hauptstraße 1532", "city": "Dresden", "postal_code": "01067"})
    erp = MemberRecord("erp", "E1", {"street": "Rue de Hollerich 5", "city": "Luxembourg",
                                     "postal_code": "L-1855", "country": "LU", "legal_name": "Firma"})
    golden = survive([crm, erp], _rules(), FIELDS)
    assert {f: golden.values.get(f) for f in ADDRESS} == {
        "street": "Hauptstraße 1532", "city": "Dresden", "postal_code": "01067", "country": None}
    assert {golden.lineage[f]["record_id"] for f in ADDRESS if f in golden.values} == {"C1"}
    assert golden.values["legal_name"] == "Firma"  # other fields keep their own rule


def test_the_lead_field_s_rule_decides_even_where_another_field_names_other_sources() -> None:
    acc = MemberRecord("accounting", "A1", {"street": "Dlouhá 1", "city": "Praha", "country": "CZ"})
    erp = MemberRecord("erp", "E1", {"street": "Krátká 2", "city": "Brno", "country": "SK"})
    golden = survive([acc, erp], _rules(country_sources=("erp", "accounting")), FIELDS)
    assert (golden.values["street"], golden.values["city"], golden.values["country"]) == ("Dlouhá 1", "Praha", "CZ")
    assert golden.lineage["country"]["source"] == "accounting"


def test_without_any_street_the_first_record_holding_part_of_the_address_gives_all_of_it() -> None:
    crm = MemberRecord("crm", "C1", {"legal_name": "Firma"})
    acc = MemberRecord("accounting", "A1", {"city": "Praha", "country": "CZ"})
    erp = MemberRecord("erp", "E1", {"city": "Brno", "postal_code": "60200", "country": "CZ"})
    golden = survive([crm, acc, erp], _rules(), FIELDS)
    assert {f: golden.values.get(f) for f in ADDRESS} == {
        "street": None, "city": "Praha", "postal_code": None, "country": "CZ"}
    assert golden.lineage["city"]["source"] == golden.lineage["country"]["source"] == "accounting"


def test_most_frequent_counts_whole_addresses() -> None:
    # Two records agree on the street alone; two others on the whole address.
    members = [MemberRecord("crm", "C1", {"street": "Dlouhá 1", "city": "Praha"}),
               MemberRecord("accounting", "A1", {"street": "Dlouhá 1", "city": "Plzeň"}),
               MemberRecord("erp", "E1", {"street": "Dlouhá 1", "city": "Plzeň"})]
    golden = survive(members, _rules("most_frequent"), FIELDS)
    assert (golden.values["street"], golden.values["city"]) == ("Dlouhá 1", "Plzeň")
    assert golden.lineage["street"]["record_id"] == golden.lineage["city"]["record_id"] == "A1"


def test_the_column_wise_golden_frame_names_one_row_for_the_whole_address() -> None:
    entities = {"H1": [MemberRecord("crm", "C1", {"street": "A 1", "city": "X"}),
                       MemberRecord("erp", "E1", {"street": "B 2", "city": "Y", "postal_code": "1", "country": "LU"})],
                "H2": [MemberRecord("erp", "E2", {"city": "Z", "country": "DE"})]}
    frame, records = members_frame(entities, FIELDS)
    golden = golden_frame(frame, _rules(), FIELDS).sort("entity")
    rows = golden.select(f"{f}__row" for f in ADDRESS).rows()
    assert [{records[r].record_id for r in row} for row in rows] == [{"C1"}, {"E2"}]
    assert golden.select(ADDRESS).rows() == [("A 1", "X", None, None), (None, "Z", None, "DE")]
