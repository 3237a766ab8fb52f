"""hub.yaml's survivorship ``rule:`` is checked against the rules reconciliation registers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.config import SurvivorshipConfig
from reconciliation.survivorship_rules import RULES, Ranking, SurvivorshipRule, packed, rank, register


def test_a_rule_name_not_registered_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="unknown survivorship rule 'newest'"):
        SurvivorshipConfig.model_validate({"default": {"rule": "newest", "sources": ["crm"]}})


def test_every_registered_rule_is_accepted_including_a_new_one() -> None:
    class Newest(SurvivorshipRule):
        name = "newest_listed"

        def rankings(self, field: str) -> list[Ranking]:
            return [Ranking(packed(rank(field, self.sources)), self.name)]

    register(Newest)
    try:
        for name in RULES:
            config = SurvivorshipConfig.model_validate({"default": {"rule": name, "sources": ["crm"]}})
            assert config.rule_for("street").rule == name
    finally:
        del RULES[Newest.name]


def test_a_field_s_comparison_is_configurable_by_a_known_key_name() -> None:
    default = {"rule": "source_priority", "sources": ["crm"]}
    config = SurvivorshipConfig.model_validate({"default": default, "compare": {"city": "fold"}})
    assert config.compare == {"city": "fold"}
    with pytest.raises(ValidationError, match="unknown comparison 'soundex'"):
        SurvivorshipConfig.model_validate({"default": default, "compare": {"city": "soundex"}})
