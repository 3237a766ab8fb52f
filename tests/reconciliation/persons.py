"""A person-like estate (FEBRL4's shape): every person once in each of two sources, the copy with
typos; only names and address compare, and no key links anyone. On such data EM, left free,
learns "shares a block" as "is a match" and links every candidate pair.
"""

from __future__ import annotations

import random
import string

import polars as pl

from reconciliation.matching import MatchSettings

COLUMNS = ("given_name", "surname", "street_number", "street", "suburb", "postcode")


def person_settings(**training: object) -> MatchSettings:
    """Names and address only; ``person_id`` is the key no record carries."""
    return MatchSettings.model_validate({
        "keys": ["person_id"],
        "blocking": [["surname"], ["postcode"], ["given_name"]],
        "comparisons": [
            {"name": "given_name", "column": "given_name",
             "levels": [{"kind": "exact"}, {"kind": "jaro_winkler", "min": 0.9}]},
            {"name": "surname", "column": "surname",
             "levels": [{"kind": "exact"}, {"kind": "jaro_winkler", "min": 0.9}]},
            {"name": "street_number", "column": "street_number", "levels": [{"kind": "exact"}]},
            {"name": "street", "column": "street",
             "levels": [{"kind": "exact"}, {"kind": "jaro_winkler", "min": 0.9}]},
            {"name": "suburb", "column": "suburb", "levels": [{"kind": "exact"}]},
            {"name": "postcode", "column": "postcode", "levels": [{"kind": "exact"}]},
        ],
        "thresholds": {"link": 0.9, "review": 0.6},
        "training": training,
    })


def person_frame(people: int, seed: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(records, truth): source ``a`` holds each person as is, ``b`` with a typo or two."""
    rng = random.Random(seed)
    given = _words(rng, 250)
    surnames = _words(rng, 600)
    streets = _words(rng, 400)
    suburbs = [(w, f"{2000 + i:04d}") for i, w in enumerate(_words(rng, 150))]
    rows, truth = [], []
    for n in range(people):
        suburb, postcode = rng.choice(suburbs)
        person = {"given_name": rng.choice(given), "surname": rng.choice(surnames),
                  "street_number": str(rng.randint(1, 199)), "street": rng.choice(streets), "suburb": suburb,
                  "postcode": postcode}
        copy = _drift(rng, dict(person))
        for system, values in (("a", person), ("b", copy)):
            rows.append({"system": system, "record_id": f"{system}{n}", "person_id": None, **values})
            truth.append({"system": system, "record_id": f"{system}{n}", "entity": str(n)})
    schema = {"system": pl.String, "record_id": pl.String, "person_id": pl.String} | dict.fromkeys(COLUMNS, pl.String)
    return pl.DataFrame(rows, schema=schema), pl.DataFrame(truth)


def _words(rng: random.Random, n: int) -> list[str]:
    return sorted({"".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 9))) for _ in range(n)})


def _drift(rng: random.Random, person: dict[str, str | None]) -> dict[str, str | None]:
    """One or two fields typed wrong, or left empty, as FEBRL's duplicates are."""
    for column in rng.sample(COLUMNS, rng.choice([1, 1, 2])):
        value = person[column]
        if rng.random() < 0.2 or value is None:
            person[column] = None
        else:
            i = rng.randrange(len(value))
            person[column] = value[:i] + rng.choice(string.ascii_lowercase) + value[i + 1:]
    return person
