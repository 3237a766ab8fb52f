"""Derived columns are computed by dependency, not by their order in hub.yaml."""

from __future__ import annotations

import polars as pl
import pytest
from pydantic import ValidationError

from reconciliation.matching import Linker, MatchSettings
from reconciliation.matching.features import UnknownSourceColumn, with_features
from reconciliation.matching.settings import FeatureSpec, feature_order
from tests.reconciliation.settings import frame, hub_settings

ROWS = [
    {"system": "crm", "record_id": "1", "legal_name": "Dvořák Stavby spol. s r.o.", "street": "Husova 5",
     "city": "Brno", "email": "Info@Dvorak.cz"},
    {"system": "erp", "record_id": "2", "legal_name": "STAVBY DVORAK S.R.O.", "street": "HUSOVA 5",
     "city": "BRNO", "email": None},
]


def _reversed(settings: MatchSettings) -> MatchSettings:
    features = dict(reversed(list(settings.features.items())))
    return settings.model_copy(update={"features": features})


def test_features_in_reversed_order_give_the_same_frame() -> None:
    settings = hub_settings()
    backwards = _reversed(settings)
    names = list(backwards.features)
    # The hub's name_core is built from name_plain: reversed, it is listed before its source.
    assert backwards.features["name_core"].source == "name_plain"
    assert names.index("name_core") < names.index("name_plain")
    records = frame(ROWS)
    forwards_frame = with_features(records, settings.features)
    backwards_frame = with_features(records, backwards.features)
    assert backwards_frame.select(sorted(backwards_frame.columns)).equals(
        forwards_frame.select(sorted(forwards_frame.columns)))
    assert backwards_frame["name_core"].to_list() == ["dvorak stavby", "dvorak stavby"]


def test_the_order_puts_every_source_first_and_keeps_independent_features_in_place() -> None:
    specs = {"c": FeatureSpec(source="b", steps=["sort_tokens"]), "x": FeatureSpec(source="email", steps=["fold"]),
             "b": FeatureSpec(source="a", steps=["fold"]), "a": FeatureSpec(source="legal_name", steps=["fold"])}
    assert feature_order(specs) == ["a", "b", "c", "x"]


def test_a_linker_links_the_same_with_features_listed_backwards() -> None:
    records = frame(ROWS)
    forwards = Linker(hub_settings()).link(records).clusters
    backwards = Linker(_reversed(hub_settings())).link(records).clusters
    assert forwards.select("record_id", "cluster").equals(backwards.select("record_id", "cluster"))


def test_a_cycle_among_features_is_a_validation_error_naming_them() -> None:
    raw = hub_settings().model_dump(by_alias=True)
    raw["features"] |= {"loop_a": {"from": "loop_b", "steps": ["fold"]},
                        "loop_b": {"from": "loop_a", "steps": ["fold"]}}
    with pytest.raises(ValidationError, match="loop_a -> loop_b -> loop_a"):
        MatchSettings.model_validate(raw)
    raw["features"] = {"self": {"from": "self", "steps": ["fold"]}}
    with pytest.raises(ValidationError, match="self -> self"):
        MatchSettings.model_validate(raw)


def test_a_feature_from_an_unknown_column_is_an_error_naming_feature_and_column() -> None:
    features = {"name_plain": FeatureSpec(source="legal_nmae", steps=["fold"]),
                "name_core": FeatureSpec(source="name_plain", steps=["sort_tokens"])}
    with pytest.raises(UnknownSourceColumn, match=r"name_plain \(from legal_nmae\)"):
        with_features(pl.DataFrame({"legal_name": ["A s.r.o."]}), features)
