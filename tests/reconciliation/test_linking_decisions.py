"""The xref's decisions as pure functions (reconciliation.linking): no store."""

from __future__ import annotations

import itertools

import polars as pl

from core.hashing import content_hash
from reconciliation.decisions import PairDecision, pair_fingerprint
from reconciliation.linking import (STEWARD_RULE, assign, linker_input, match_questions, steward_pairs,
                                    xref_changes)
from reconciliation.members import records_frame
from reconciliation.records import MemberRecord, RecordSet, XrefEntry

A = MemberRecord("crm", "1", {"company_id": "123", "legal_name": "Alfa"})
B = MemberRecord("erp", "1", {"company_id": "123", "legal_name": "Alfa s.r.o."})
C = MemberRecord("erp", "2", {"company_id": "456", "legal_name": "Beta"})


def _records(xref: dict, hashes: dict | None = None) -> RecordSet:  # type: ignore[type-arg]
    members = [A, B, C]
    return RecordSet(members, hashes or {m.key: "h" for m in members}, xref, set())


def test_unchanged_and_steward_placed_records_keep_their_hub_id_and_a_changed_one_is_matched_again() -> None:
    records = _records({A.key: XrefEntry("H1", "key", "h"), B.key: XrefEntry("H1", STEWARD_RULE, "old"),
                        C.key: XrefEntry("H2", "key", "old")})
    frame = linker_input(records_frame(records.members, ["company_id"]), records)
    assert frame.select("record_id", "hub_id", "previous_hub_id").rows() == [
        ("1", "H1", None), ("1", "H1", None), ("2", None, "H2")]


def test_a_steward_pair_decision_holds_until_a_record_changes_materially() -> None:
    material = ["company_id"]
    still = PairDecision(A.key, C.key, False, pair_fingerprint(A.values, C.values, material), 1)
    moved = PairDecision(A.key, B.key, True, pair_fingerprint(A.values, {"company_id": "999"}, material), 2)
    about_a_hub = PairDecision(A.key, ("hub", "H1"), True, "", 3)
    pairs, expired = steward_pairs([still, moved, about_a_hub], _records({}), material)
    assert (list(pairs.must_link), list(pairs.cannot_link), expired) == ([], [(A.key, C.key)], [2])


def test_new_clusters_get_fresh_hub_ids_in_record_order() -> None:
    clusters = pl.DataFrame({"system": ["erp", "crm", "erp"], "record_id": ["2", "1", "1"], "cluster": [7, 3, 3],
                             "hub_id": [None, None, None], "rule": ["new", "key", "key"],
                             "probability": [None, 1.0, 1.0]})
    counter = itertools.count(10)
    links = assign(clusters, lambda: f"H{next(counter)}")
    assert links.hub_ids == {A.key: "H10", B.key: "H10", C.key: "H11"}
    assert links.new_hub_ids == {"H10", "H11"} and links.rules[C.key] == "new"


def test_xref_changes_add_move_and_rehash() -> None:
    records = _records({A.key: XrefEntry("H1", "key", "h"), B.key: XrefEntry("H2", "key", "h")},
                       {A.key: "h2", B.key: "h", C.key: "h"})
    clusters = pl.DataFrame({"system": ["crm", "erp", "erp"], "record_id": ["1", "1", "2"], "cluster": [1, 1, 2],
                             "hub_id": ["H1", "H1", None], "rule": ["existing", "key", "new"],
                             "probability": [1.0, 1.0, None]})
    changes = xref_changes(assign(clusters, lambda: "H3"), records)
    assert [(c.key, c.hub_id) for c in changes.added] == [(C.key, "H3")]
    assert [(c.key, c.hub_id, c.rule) for c in changes.moved] == [(B.key, "H1", "key")]
    assert [(c.key, c.source_hash) for c in changes.rehashed] == [(A.key, "h2")]


def test_a_pair_in_the_review_band_is_one_question_whichever_way_round() -> None:
    candidates = pl.DataFrame({"system_a": ["erp", "crm"], "record_id_a": ["2", "1"], "system_b": ["crm", "erp"],
                               "record_id_b": ["1", "2"], "probability": [0.61234, 0.61234],
                               "reason": ["probabilistic", "probabilistic"]})
    links = assign(pl.DataFrame({"system": ["crm", "erp"], "record_id": ["1", "2"], "cluster": [1, 2],
                                 "hub_id": ["H1", "H2"], "rule": ["key", "key"], "probability": [1.0, 1.0]}),
                   lambda: "unused")
    [question] = match_questions(candidates, links, {"company_id"})
    assert question.fingerprint == content_hash(["match_candidate", A.key, C.key])
    assert (question.system, question.record_id, question.other_system, question.other_record_id) == (
        "crm", "1", "erp", "2")
    assert question.candidates == {"probability": 0.6123, "hub_a": "H1", "hub_b": "H2", "material": ["company_id"]}
