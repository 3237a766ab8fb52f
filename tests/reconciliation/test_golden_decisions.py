"""The golden-record decisions as pure functions: plain records, xref and golden records in,
decisions out (reconciliation.golden, conflicts, outbox); no store."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.hashing import content_hash
from reconciliation.conflicts import conflicts, holding_choices, refused_questions
from reconciliation.decisions import ChosenValue, field_evidence
from reconciliation.diff import correction_key, differences_members
from reconciliation.golden import HELD, RunRules, decide_golden
from reconciliation.members import records_frame, with_entities
from reconciliation.outbox import SKIPPED_DELETED, SourceState, due, outbox_entries
from reconciliation.records import CurrentGolden, MemberRecord, RecordSet, XrefEntry
from reconciliation.survivorship_rules import rule_named

FIELDS = ["street", "email"]
SOURCES = ("crm", "accounting", "erp")
RUN = RunRules(run_id="R2", rules={f: rule_named("source_priority", SOURCES) for f in FIELDS},
               systems=set(SOURCES), carries={s: set(FIELDS) for s in SOURCES},
               receives={"crm": {"street"}, "accounting": {"street", "email"}, "erp": set()},
               vouches={"ares": {"street"}})
BEFORE = {"street": "Ulice 1", "email": "info@firma.cz"}


def _records(values: dict[str, dict[str, Any]], changed: set[str] = set(), deleted: set[str] = set(),
             hub: str = "H1") -> RecordSet:
    """One company: its records by system; ``changed`` ones moved on since the last run."""
    members = [MemberRecord(s, f"{s}-1", v, seen_at="2026-01-01T00:00:00") for s, v in sorted(values.items())]
    hashes = {m.key: "new" if m.system in changed else "old" for m in members}
    xref = {m.key: XrefEntry(hub, "key", "old") for m in members}
    return RecordSet(members, hashes, xref, {(s, f"{s}-1") for s in deleted})


def _decide(records: RecordSet, current: dict[str, Any] | None = BEFORE,
            chosen: dict[str, dict[str, ChosenValue]] | None = None, evidence: dict | None = None):  # type: ignore[no-untyped-def]
    hub_ids = {m.key: "H1" for m in records.members}
    currents = {} if current is None else {"H1": CurrentGolden(3, current, {f: {"source": "crm"} for f in current})}
    frame = records_frame(records.members, FIELDS)
    return decide_golden(records, frame, hub_ids, currents, chosen or {}, evidence or {}, RUN)


def test_two_trusted_sources_changing_a_field_differently_hold_it_and_ask_a_steward() -> None:
    records = _records({"crm": {**BEFORE, "street": "Nová 1"}, "accounting": {**BEFORE, "street": "Stará 9"},
                        "erp": BEFORE}, changed={"crm", "accounting"})
    decided = _decide(records)
    assert decided.held == {"H1": {"street"}}
    assert decided.goldens["H1"].values["street"] == "Ulice 1"  # the previous golden value, not a guess
    assert decided.goldens["H1"].lineage["street"]["rule"] == HELD
    [question] = decided.questions
    assert (question.kind, question.hub_id, question.field) == ("conflict", "H1", "street")
    assert question.candidates == {"accounting:accounting-1": "Stará 9", "crm:crm-1": "Nová 1", "golden": "Ulice 1"}
    expected = {"accounting:accounting-1": "Stará 9", "crm:crm-1": "Nová 1"}
    assert question.fingerprint == content_hash(["conflict", "H1", "street", expected])
    assert decided.versions == [] and decided.superseded == []  # nothing changed: no new version


def test_two_sources_agreeing_on_a_change_is_no_conflict_and_makes_a_new_version() -> None:
    records = _records({"crm": {**BEFORE, "street": "Nová 1"}, "accounting": {**BEFORE, "street": "Nová 1"},
                        "erp": BEFORE}, changed={"crm", "accounting"})
    decided = _decide(records)
    assert decided.held == {"H1": set()} and decided.questions == []
    [version] = decided.versions
    assert (version.hub_id, version.version, version.values["street"]) == ("H1", 4, "Nová 1")
    assert version.lineage["street"]["rule"] == "source_priority" and version.lineage["street"]["run"] == "R2"
    assert decided.superseded == ["H1"]
    assert decided.changes == [("H1", "street", "Ulice 1", "Nová 1")]


def test_a_held_field_is_reported_but_never_corrected() -> None:
    records = _records({"crm": {**BEFORE, "street": "Nová 1"}, "accounting": {**BEFORE, "street": "Stará 9"},
                        "erp": BEFORE}, changed={"crm", "accounting"})
    decided = _decide(records)
    found = differences_members(with_entities(records_frame(records.members, FIELDS), decided.live),
                                records.members, decided.goldens, RUN.receives, RUN.carries, FIELDS, decided.held)
    street = [d for d in found["H1"] if d.field == "street"]
    assert {d.system for d in street} == {"crm", "accounting"} and not any(d.correct for d in street)
    assert outbox_entries(found, {}) == []


def test_a_steward_choice_that_still_holds_wins_and_one_whose_source_moved_on_expires() -> None:
    decided_on = {"street": "Stará 9"}
    base = {"crm": {**BEFORE, "street": "Nová 1"}, "accounting": {**BEFORE, "street": "Stará 9"}, "erp": BEFORE}
    evidence = field_evidence(_records(base).members, "street")
    choice = ChosenValue("H1", "street", decided_on["street"], content_hash(evidence), 7, evidence)

    holding = _decide(_records(base), chosen={"H1": {"street": choice}})
    assert holding.goldens["H1"].values["street"] == "Stará 9"
    assert holding.goldens["H1"].lineage["street"]["rule"] == "steward"
    assert holding.expired == [] and holding.questions == []

    moved = _records({**base, "crm": {**BEFORE, "street": "Třetí 3"}}, changed={"crm"})
    expired = _decide(moved, chosen={"H1": {"street": choice}})
    assert expired.expired == [7]
    assert expired.goldens["H1"].values["street"] == "Třetí 3"  # the rules decide again


def test_a_deleted_record_no_longer_speaks_and_a_hub_without_records_is_retired() -> None:
    records = _records({"crm": {**BEFORE, "street": "Nová 1"}, "accounting": BEFORE}, deleted={"crm"})
    decided = _decide(records)
    assert decided.goldens["H1"].values["street"] == "Ulice 1"  # the accounting's value: crm is deleted
    assert decided.live == [None if m.system == "crm" else "H1" for m in records.members]
    gone = decide_golden(records, records_frame(records.members, FIELDS), {m.key: "H1" for m in records.members},
                         {"H1": CurrentGolden(1, BEFORE, {}), "H9": CurrentGolden(2, BEFORE, {})}, {}, {}, RUN)
    assert gone.retired == ["H9"]


def test_a_first_golden_record_is_version_one_and_a_registry_value_carries_its_check() -> None:
    records = RecordSet([MemberRecord("ares", "1", {"street": "Rejstříková 1"}),
                         MemberRecord("crm", "crm-1", {"street": "Nová 1", "email": "a@b.cz"})], {}, {}, set())
    run = RunRules("R1", {"street": rule_named("source_priority", ("ares", *SOURCES)),
                          "email": rule_named("source_priority", SOURCES)}, set(SOURCES), RUN.carries,
                   RUN.receives, {"ares": {"street"}})
    check = {"registry": "ares", "check_id": 5}
    decided = decide_golden(records, records_frame(records.members, FIELDS), {m.key: "H1" for m in records.members},
                            {}, {}, {("ares", "1"): check}, run)
    [version] = decided.versions
    assert (version.version, version.values) == (1, {"street": "Rejstříková 1", "email": "a@b.cz"})
    assert version.lineage["street"]["registry_evidence"] == check
    assert "registry_evidence" not in version.lineage["email"]
    assert decided.superseded == [] and decided.live == [None, "H1"]  # a registry record is never corrected


def test_conflicts_ignore_untrusted_sources_and_new_hub_ids() -> None:
    cluster = [MemberRecord("crm", "c", {"street": "A"}), MemberRecord("web", "w", {"street": "B"})]
    rules = {"street": rule_named("source_priority", ("crm", "accounting"))}
    assert conflicts("H1", cluster, CurrentGolden(1, {"street": "X"}, {}), lambda key: True, rules, {}) == {}
    assert conflicts("H1", cluster[:1] * 2, None, lambda key: True, rules, {}) == {}


def test_holding_choices_only_judge_hub_ids_that_speak() -> None:
    choice = ChosenValue("H2", "street", "A", "fp", 3, {"crm:c": "B"})
    holding, expired = holding_choices({"H2": {"street": choice}}, {"H1": []})
    assert (holding, expired) == ({}, [])


def test_corrections_are_keyed_by_the_state_they_correct_and_due_once() -> None:
    records = _records({"crm": {**BEFORE, "street": "Nová 1"}, "accounting": {**BEFORE, "street": "Nová 1"},
                        "erp": BEFORE}, changed={"crm", "accounting"})
    decided = _decide(records, current=None)
    found = differences_members(with_entities(records_frame(records.members, FIELDS), decided.live),
                                records.members, decided.goldens, RUN.receives, RUN.carries, FIELDS, decided.held)
    sources = {("erp", "erp-1"): SourceState("h-erp", "7")}
    assert outbox_entries(found, sources) == []  # the ERP differs but receives nothing
    receiving = replace(RUN, receives={"erp": {"street"}})
    found = differences_members(with_entities(records_frame(records.members, FIELDS), decided.live),
                                records.members, decided.goldens, receiving.receives, RUN.carries, FIELDS)
    [entry] = outbox_entries(found, sources)
    assert (entry.system, entry.record_id, entry.values, entry.expected_version) == ("erp", "erp-1",
                                                                                    {"street": "Nová 1"}, "7")
    assert entry.key == correction_key("erp", "erp-1", {"street": "Nová 1"}, "h-erp")
    assert outbox_entries(found, sources) == [entry]  # the same state, the same key
    assert due([entry], {}) == ([entry], [])
    assert due([entry], {entry.key: "sent"}) == ([], [])
    assert due([entry], {entry.key: SKIPPED_DELETED}) == ([], [entry])


def test_a_refused_write_asks_one_question_per_field() -> None:
    questions = refused_questions("K1", "H1", "crm", "c1", {"street": "A", "email": "e"}, "version moved")
    assert [q.field for q in questions] == ["email", "street"]
    assert questions[1].fingerprint == content_hash(["refused", "K1", "street"])
    assert questions[1].candidates == {"golden": "A", "crm": "changed at the source"}
    assert questions[1].reason == "crm refused the correction: version moved"
