"""The matching section is validated whole: every problem at its key, none hiding another."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import ValidationError

from core.validation import describe
from reconciliation.matching import MatchSettings


class OnTwoColumns(MatchSettings):
    input_columns: ClassVar[frozenset[str] | None] = frozenset({"name", "city"})


def _keys(settings: type[MatchSettings], raw: dict) -> list[str]:
    with pytest.raises(ValidationError) as error:
        settings.model_validate(raw)
    return [key for key, _ in describe(error.value)]


def test_no_key_is_an_error_not_a_crash_in_the_linker() -> None:
    assert _keys(MatchSettings, {"keys": []}) == ["keys"]


def test_thresholds_out_of_order_name_both_values() -> None:
    with pytest.raises(ValidationError, match=r"review \(0.9\) must not exceed link \(0.6\)"):
        MatchSettings.model_validate({"thresholds": {"link": 0.6, "review": 0.9}})


def test_every_problem_at_once_and_a_bad_level_hides_none() -> None:
    raw = {"keys": ["name", "vat"], "features": {"city_fold": {"from": "town", "steps": ["fold"]}},
           "blocking": [["city_fold"], ["postcode"]],
           "comparisons": [{"name": "n", "column": "name", "levels": [{"kind": "fuzzy"}]},
                           {"name": "n", "column": "phone", "levels": [{"kind": "exact", "column": "fax"}]}]}
    assert _keys(OnTwoColumns, raw) == [
        "comparisons.0.levels.0.kind", "comparisons.1.name", "keys.1", "features.city_fold.from",
        "blocking.1.0", "comparisons.1.column", "comparisons.1.levels.0.column"]


def test_without_known_columns_any_column_may_be_named() -> None:
    settings = MatchSettings.model_validate({"keys": ["anything"], "blocking": [["else"]]})
    assert settings.source_columns() == {"anything", "else"}
