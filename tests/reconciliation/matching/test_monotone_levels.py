"""training.monotone_levels: a stronger level of a comparison never weighs less than a weaker one."""

from __future__ import annotations

import polars as pl

from reconciliation.matching import Linker, MatchSettings
from reconciliation.matching.fellegi_sunter import Model
from tests.reconciliation.persons import person_frame, person_settings


def test_a_stronger_level_takes_the_weight_of_a_weaker_one_that_weighs_more() -> None:
    # Levels: 0 else, 1 near, 2 exact. Exact agreement is common among blocked non-matches: 1 bit.
    m, u = {"name": [0.1, 0.2, 0.7]}, {"name": [0.6, 0.05, 0.35]}
    assert [round(w, 2) for w in Model(m, u, 0.1).bayes_factors("name")] == [-2.58, 2.0, 1.0]
    assert [round(w, 2) for w in Model(m, u, 0.1, monotone=True).bayes_factors("name")] == [-2.58, 2.0, 2.0]


def test_off_by_default_and_carried_from_the_settings_into_the_trained_model() -> None:
    assert MatchSettings().training.monotone_levels is False
    records, _ = person_frame(300, seed=2)
    settings = person_settings(monotone_levels=True)
    model = Linker(settings).link(records).model
    assert model is not None and model.monotone
    for name in model.m:
        factors = model.bayes_factors(name)[1:]
        assert factors == sorted(factors)


def test_persons_without_any_key_link_by_their_names_and_address() -> None:
    records, truth = person_frame(300, seed=2)
    raw = person_settings().model_dump(by_alias=True) | {"keys": []}
    result = Linker(MatchSettings.model_validate(raw)).link(records.drop("person_id"))
    linked = result.clusters.join(truth, on=["system", "record_id"]).group_by("cluster").agg(
        pl.col("entity").n_unique())
    assert linked["entity"].max() == 1 and result.stats["links"] > 0
