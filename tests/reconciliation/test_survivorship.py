"""Survivorship rules, a steward's chosen value, and lineage."""

from __future__ import annotations

import random
from collections import Counter

from core.hashing import content_hash
from reconciliation.decisions import ChosenValue, chosen_holds, field_evidence
from reconciliation.records import MemberRecord
from reconciliation.survivorship import golden_frame, members_frame, survive, survive_many
from reconciliation.survivorship_rules import SurvivorshipRule, rule_named

CRM = MemberRecord("crm", "C1", {"street": "Nová 1", "phone": "+420601000001"}, seen_at="2026-03-01T00:00:00")
ACC = MemberRecord("accounting", "A1", {"street": "Stará 2", "phone": "+420601000002"}, seen_at="2026-05-01T00:00:00")
ERP = MemberRecord("erp", "E1", {"street": "Stará 2"}, seen_at="2026-01-01T00:00:00")
MEMBERS = [CRM, ACC, ERP]
SOURCES = ("crm", "accounting", "erp")


def _value(rule: str, field: str = "street", members: list[MemberRecord] = MEMBERS) -> object:
    golden = survive(members, {field: rule_named(rule, SOURCES)}, [field], run_id="R1")
    return golden.values.get(field)


def test_each_rule_picks_its_value() -> None:
    assert _value("source_priority") == "Nová 1"
    assert _value("most_frequent") == "Stará 2"
    assert _value("most_recent", "phone") == "+420601000002"
    assert _value("first_non_empty") == "Stará 2"  # the ERP's content is the oldest
    assert _value("registry") == "Nová 1"  # the first listed source acts as the registry


def test_registry_falls_back_to_the_majority_when_it_does_not_know_the_company() -> None:
    golden = survive(MEMBERS, {"street": rule_named("registry", ("ares", *SOURCES))}, ["street"])
    assert golden.values["street"] == "Stará 2"
    assert golden.lineage["street"]["rule"] == "registry:most_frequent"


def test_lineage_names_source_rule_run_and_the_disagreeing_evidence() -> None:
    golden = survive(MEMBERS, {"street": rule_named("source_priority", SOURCES)}, ["street"], run_id="R1")
    assert golden.lineage["street"] == {
        "source": "crm", "record_id": "C1", "rule": "source_priority", "run": "R1",
        "evidence": {"accounting:A1": "Stará 2", "crm:C1": "Nová 1", "erp:E1": "Stará 2"}}


def test_a_chosen_value_wins_until_a_source_changes_the_field() -> None:
    rules = {"street": rule_named("source_priority", SOURCES)}
    choice = ChosenValue("H1", "street", "Stará 2", content_hash(field_evidence(MEMBERS, "street")), 1)
    golden = survive(MEMBERS, rules, ["street"], chosen={"street": choice})
    assert golden.values["street"] == "Stará 2" and golden.lineage["street"]["rule"] == "steward"
    moved = [MemberRecord("crm", "C1", {"street": "Jiná 3"}), ACC, ERP]
    assert survive(moved, rules, ["street"], chosen={"street": choice}).values["street"] == "Jiná 3"


def test_a_chosen_value_with_its_evidence_survives_sources_taking_it_but_not_a_new_value() -> None:
    rules = {"street": rule_named("source_priority", SOURCES)}
    decided = field_evidence(MEMBERS, "street")
    choice = ChosenValue("H1", "street", "Stará 2", content_hash(decided), 1, decided)
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
    rules = {"street": rule_named("most_frequent", SOURCES)}
    assert survive(MEMBERS, rules, ["street"]) == survive(list(reversed(MEMBERS)), rules, ["street"])


def test_one_pass_over_many_entities_keeps_each_entity_to_itself() -> None:
    rules = {"street": rule_named("most_frequent", SOURCES), "phone": rule_named("registry", ("ares", *SOURCES))}
    other = [MemberRecord("crm", "C9", {"street": "Nová 1"}), MemberRecord("erp", "E9", {"street": "Nová 1"}),
             MemberRecord("ares", "R9", {"phone": "+420222000000"}),
             MemberRecord("accounting", "A9", {"street": "Stará 2", "phone": "+420601000009"})]
    goldens = survive_many({"H1": MEMBERS, "H2": other}, rules, ["street", "phone"], run_id="R1")
    assert goldens["H1"].values == {"street": "Stará 2", "phone": "+420601000001"}
    assert goldens["H1"].lineage["phone"]["rule"] == "registry:most_frequent"
    assert goldens["H2"].values == {"street": "Nová 1", "phone": "+420222000000"}
    assert goldens["H2"].lineage["phone"]["rule"] == "registry"


def test_ties_go_to_source_order_then_record_id() -> None:
    same_time = "2026-02-01T00:00:00"
    members = [MemberRecord("erp", "E1", {"street": "Třetí 3"}, same_time),
               MemberRecord("crm", "C2", {"street": "Druhá 2"}, same_time),
               MemberRecord("crm", "C1", {"street": "První 1"}, same_time)]
    for rule in ("most_recent", "most_frequent", "first_non_empty", "source_priority"):
        assert _value(rule, members=members) == "První 1", rule
    unseen = [MemberRecord("erp", "E1", {"street": "Třetí 3"}), MemberRecord("crm", "C1", {"street": "První 1"}, same_time)]
    assert _value("most_recent", members=unseen) == "První 1"  # a record without a time never wins on time
    assert _value("first_non_empty", members=unseen) == "První 1"


def _oracle(members: list[MemberRecord], field: str, rule: SurvivorshipRule) -> tuple[str, str, str] | None:
    """The rules written plainly, one entity at a time: (system, record_id, rule) of the winner."""
    def holding(sources: tuple[str, ...]) -> list[MemberRecord]:
        rank = {s: i for i, s in enumerate(sources)}
        found = [m for m in members if m.system in rank and m.values.get(field) is not None]
        return sorted(found, key=lambda m: (rank[m.system], m.record_id))

    def frequent(found: list[MemberRecord]) -> MemberRecord:
        counts = Counter(str(m.values[field]) for m in found)
        return min(found, key=lambda m: (-counts[str(m.values[field])], found.index(m)))

    found = holding(rule.sources)
    name = rule.name
    if name == "registry":
        registry = holding(rule.sources[:1])
        found = registry or holding(rule.sources[1:])
        name = "registry" if registry else "registry:most_frequent"
        winner = found[0] if registry else (frequent(found) if found else None)
    elif not found:
        winner = None
    elif name == "most_frequent":
        winner = frequent(found)
    elif name == "most_recent":
        winner = max(found, key=lambda m: (m.seen_at or "", -found.index(m)))
    elif name == "first_non_empty":
        winner = min(found, key=lambda m: (m.seen_at or "~", found.index(m)))
    else:
        winner = found[0]
    return None if winner is None else (winner.system, winner.record_id, name)


def test_the_column_wise_rules_agree_with_the_rules_written_plainly() -> None:
    rng = random.Random(7)
    # Fields outside the address group, which survives as one (test_survivorship_address.py).
    rules = {"legal_name": rule_named("most_frequent", SOURCES), "phone": rule_named("most_recent", SOURCES),
             "legal_form": rule_named("registry", ("ares", *SOURCES)), "email": rule_named("first_non_empty", SOURCES),
             "iban": rule_named("source_priority", SOURCES)}
    entities: dict[str, list[MemberRecord]] = {}
    for e in range(400):
        entities[f"H{e}"] = [
            MemberRecord(system, f"{rng.randint(1, 30)}",
                         {f: rng.choice([None, "a", "b", "c"]) for f in rules},
                         rng.choice([None, "2026-01-01T00:00:00", "2026-02-01T00:00:00"]))
            for system in rng.sample(["ares", *SOURCES, "crm2"], rng.randint(1, 5))]
    frame, records = members_frame(entities, list(rules))
    golden = golden_frame(frame, rules, list(rules))
    assert golden.height == len(entities)
    for row in golden.iter_rows(named=True):
        members = entities[row["entity"]]
        for field, rule in rules.items():
            expected = _oracle(members, field, rule)
            won = row[f"{field}__row"]
            got = None if won is None else (records[won].system, records[won].record_id, row[f"{field}__rule"])
            assert got == expected, (row["entity"], field)
            assert row[field] == (None if won is None else records[won].values[field])
            assert row[f"{field}__disputed"] == (len({m.values[field] for m in members} - {None}) > 1)
