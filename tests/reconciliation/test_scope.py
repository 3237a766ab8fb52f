"""The scope of an incremental reconcile: the change set closed over what matching joins records by."""

from __future__ import annotations

from typing import Any

import polars as pl

from reconciliation.matching import MatchSettings
from reconciliation.scope import scope_mask

SETTINGS = MatchSettings(keys=["company_id"], features={"name_fold": {"from": "legal_name", "steps": ["fold"]}},
                         blocking=[["name_fold"]], comparisons=[{"name": "name", "column": "name_fold",
                                                                 "levels": [{"kind": "exact"}]}])


def _frame(*rows: dict[str, Any]) -> pl.DataFrame:
    base = {"system": "crm", "hub_id": None, "unpinned": False, "seed": False, "company_id": None, "legal_name": None}
    full = [{**base, "record_id": str(i), **row} for i, row in enumerate(rows)]
    schema = {"system": pl.String, "record_id": pl.String, "hub_id": pl.String, "unpinned": pl.Boolean,
              "seed": pl.Boolean, "company_id": pl.String, "legal_name": pl.String}
    return pl.DataFrame(full, schema=schema)


def _scope(frame: pl.DataFrame, **kwargs: Any) -> list[int]:
    return [i for i, inside in enumerate(scope_mask(frame, SETTINGS, **kwargs)) if inside]


def test_nothing_changed_is_an_empty_scope() -> None:
    frame = _frame({"hub_id": "H1", "legal_name": "Alfa"}, {"hub_id": "H1", "legal_name": "Alfa"})
    assert _scope(frame) == []


def test_a_new_record_without_a_key_brings_its_block_and_their_hub_ids() -> None:
    frame = _frame({"unpinned": True, "seed": True, "legal_name": "ALFA"},  # new, no IČO
                   {"hub_id": "H1", "legal_name": "Alfa", "company_id": "1"},  # same block
                   {"hub_id": "H1", "legal_name": "Alfa Praha", "company_id": "1"},  # its hub id
                   {"hub_id": "H2", "legal_name": "Beta", "company_id": "1"},  # shares the key
                   {"hub_id": "H3", "legal_name": "Gama"})  # unrelated
    assert _scope(frame) == [0, 1, 2, 3]


def test_a_changed_record_with_a_key_is_linked_by_its_key_not_its_block() -> None:
    frame = _frame({"hub_id": "H1", "unpinned": True, "seed": True, "legal_name": "Alfa", "company_id": "1"},
                   {"hub_id": "H2", "legal_name": "Alfa"},  # same block: no pair is scored for it
                   {"hub_id": "H3", "company_id": "1"})
    assert _scope(frame) == [0, 2]


def test_hub_ids_and_steward_pairs_are_followed() -> None:
    frame = _frame({"hub_id": "H1"}, {"hub_id": "H1"}, {"hub_id": "H2"}, {"hub_id": "H3"})
    assert _scope(frame, hubs={"H1"}, pairs=[(("crm", "1"), ("crm", "2"))]) == [0, 1, 2]
