"""What the generator tells the registries: dissolved and insolvent Czech companies, drawn from
the seed, and the proceedings the sandbox ISIR files for them."""

from __future__ import annotations

from connectors.registries.isir import ended
from sandbox.estate import _isir_proceedings
from sandbox.generator import generate


def test_insolvencies_are_few_czech_seeded_and_apart_from_dissolutions() -> None:
    registry = generate(300, seed=7).registry
    insolvent = [c for c in registry if c.insolvent_since]
    assert 0 < len(insolvent) < len(registry) * 0.1
    assert all(c.country == "CZ" and c.company_id and not c.dissolved_on for c in insolvent)
    again = [c.key for c in generate(300, seed=7).registry if c.insolvent_since]
    assert again == [c.key for c in insolvent]


def test_isir_files_an_ongoing_case_for_the_insolvent_and_an_ended_one_for_the_dissolved() -> None:
    registry = generate(300, seed=7).registry
    proceedings = _isir_proceedings(registry)
    for c in registry:
        rows = proceedings.get(c.company_id or "", [])
        if c.insolvent_since:
            assert [ended(r["druhStavKonkursu"]) for r in rows] == [False]
            assert rows[0]["datumPmZahajeniUpadku"] == c.insolvent_since.isoformat()
        elif c.dissolved_on:
            assert [ended(r["druhStavKonkursu"]) for r in rows] == [True]
        else:
            assert rows == []
