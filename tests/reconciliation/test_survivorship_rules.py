"""Survivorship rules as registered classes: hub.yaml names them, each carries its column-wise ranking."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciliation.records import MemberRecord
from reconciliation.survivorship import survive
from reconciliation.survivorship_rules import (RULES, MostFrequent, Ranking, SurvivorshipRule, known_rule, packed,
                                               rank, register, rule_named)

MEMBERS = [MemberRecord("crm", "C1", {"street": "Nová 1"}), MemberRecord("accounting", "A1", {"street": "Stará 2"}),
           MemberRecord("erp", "E1", {"street": "Stará 2"})]


class LastListed(SurvivorshipRule):
    """A rule written the way a new one would be: the last listed source holding a value."""

    name = "last_listed"

    def rankings(self, field: str) -> list[Ranking]:
        return [Ranking(packed(rank(field, self.sources[::-1])), self.name)]


@pytest.fixture
def last_listed() -> Iterator[None]:
    register(LastListed)
    yield
    del RULES[LastListed.name]


def test_the_five_rules_hub_yaml_knows_are_registered_by_name() -> None:
    assert set(RULES) == {"source_priority", "most_recent", "most_frequent", "registry", "first_non_empty"}
    rule = rule_named("most_frequent", ["crm", "erp"])
    assert isinstance(rule, MostFrequent) and rule.sources == ("crm", "erp")
    assert rule == MostFrequent(("crm", "erp")) != rule_named("source_priority", ["crm", "erp"])


def test_an_unknown_rule_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown survivorship rule 'latest'.*most_recent"):
        rule_named("latest", ["crm"])


def test_a_registered_rule_is_named_like_the_others(last_listed: None) -> None:
    assert known_rule("last_listed") == "last_listed"
    golden = survive(MEMBERS, {"street": rule_named("last_listed", ("crm", "accounting"))}, ["street"])
    assert golden.values["street"] == "Stará 2" and golden.lineage["street"]["record_id"] == "A1"
    assert golden.lineage["street"]["rule"] == "last_listed"


def test_a_rule_with_a_fallback_names_the_ranking_that_decided() -> None:
    registry = rule_named("registry", ("ares", "crm", "accounting", "erp"))
    assert [r.label for r in registry.rankings("street")] == ["registry", "registry:most_frequent"]
    with_ares = [*MEMBERS, MemberRecord("ares", "1", {"street": "Rejstřík 1"})]
    assert survive(with_ares, {"street": registry}, ["street"]).lineage["street"]["rule"] == "registry"
