"""Survivorship rules, a steward's chosen value, and lineage."""

from __future__ import annotations

from reconciliation.decisions import ChosenValue, chosen_holds, field_evidence, fingerprint
from reconciliation.records import MemberRecord
from reconciliation.survivorship import FieldRule, survive

CRM = MemberRecord("crm", "C1", {"street": "Nová 1", "phone": "+420601000001"}, seen_at="2026-03-01T00:00:00")
ACC = MemberRecord("accounting", "A1", {"street": "Stará 2", "phone": "+420601000002"}, seen_at="2026-05-01T00:00:00")
ERP = MemberRecord("erp", "E1", {"street": "Stará 2"}, seen_at="2026-01-01T00:00:00")
MEMBERS = [CRM, ACC, ERP]
SOURCES = ("crm", "accounting", "erp")


def _value(rule: str, field: str = "street", members: list[MemberRecord] = MEMBERS) -> object:
    golden = survive(members, {field: FieldRule(rule, SOURCES)}, [field], run_id="R1")
    return golden.values.get(field)


def test_each_rule_picks_its_value() -> None:
    assert _value("source_priority") == "Nová 1"
    assert _value("most_frequent") == "Stará 2"
    assert _value("most_recent", "phone") == "+420601000002"
    assert _value("first_non_empty") == "Stará 2"  # the ERP's content is the oldest
    assert _value("registry") == "Nová 1"  # the first listed source acts as the registry


def test_registry_falls_back_to_the_majority_when_it_does_not_know_the_company() -> None:
    golden = survive(MEMBERS, {"street": FieldRule("registry", ("ares", *SOURCES))}, ["street"])
    assert golden.values["street"] == "Stará 2"
    assert golden.lineage["street"]["rule"] == "registry:most_frequent"


def test_lineage_names_source_rule_run_and_the_disagreeing_evidence() -> None:
    golden = survive(MEMBERS, {"street": FieldRule("source_priority", SOURCES)}, ["street"], run_id="R1")
    assert golden.lineage["street"] == {
        "source": "crm", "record_id": "C1", "rule": "source_priority", "run": "R1",
        "evidence": {"accounting:A1": "Stará 2", "crm:C1": "Nová 1", "erp:E1": "Stará 2"}}


def test_a_chosen_value_wins_until_a_source_changes_the_field() -> None:
    rules = {"street": FieldRule("source_priority", SOURCES)}
    choice = ChosenValue("H1", "street", "Stará 2", fingerprint(field_evidence(MEMBERS, "street")), 1)
    golden = survive(MEMBERS, rules, ["street"], chosen={"street": choice})
    assert golden.values["street"] == "Stará 2" and golden.lineage["street"]["rule"] == "steward"
    moved = [MemberRecord("crm", "C1", {"street": "Jiná 3"}), ACC, ERP]
    assert survive(moved, rules, ["street"], chosen={"street": choice}).values["street"] == "Jiná 3"


def test_a_chosen_value_with_its_evidence_survives_sources_taking_it_but_not_a_new_value() -> None:
    rules = {"street": FieldRule("source_priority", SOURCES)}
    decided = field_evidence(MEMBERS, "street")
    choice = ChosenValue("H1", "street", "Stará 2", fingerprint(decided), 1, decided)
    corrected = [MemberRecord("crm", "C1", {"street": "Stará 2"}), ACC, ERP,
                 MemberRecord("erp", "E2", {})]  # the CRM took the chosen value; a new record without one
    assert chosen_holds(choice, corrected) and chosen_holds(choice, MEMBERS)
    assert survive(corrected, rules, ["street"], chosen={"street": choice}).lineage["street"]["rule"] == "steward"
    edited = [CRM, MemberRecord("accounting", "A1", {"street": "Třetí 3"}), ERP]
    assert not chosen_holds(choice, edited)
    assert survive(edited, rules, ["street"], chosen={"street": choice}).values["street"] == "Nová 1"
    joined = [*MEMBERS, MemberRecord("erp", "E2", {"street": "Jiná 4"})]  # new evidence
    assert not chosen_holds(choice, joined)


def test_the_result_does_not_depend_on_the_order_records_were_read_in() -> None:
    rules = {"street": FieldRule("most_frequent", SOURCES)}
    assert survive(MEMBERS, rules, ["street"]) == survive(list(reversed(MEMBERS)), rules, ["street"])
