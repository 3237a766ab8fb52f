"""The normalizers' rule tables: YAML files under ``mappings/tables/``, read once.

Tables are data (countries' names, legal forms, postal-code shapes, place names) kept
apart from the code that executes them; each normalizer compiles its table once, on
first use, into the lookups it needs.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TABLES_DIR = Path(__file__).parents[1] / "tables"


@cache
def load_table(name: str) -> Any:
    """``mappings/tables/<name>.yaml`` as parsed YAML (cached: callers must not mutate it)."""
    return yaml.safe_load((TABLES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def lookup_key(text: str) -> str:
    """Case- and spacing-blind key: NFC, single spaces, casefolded ("  Česká  Republika")."""
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def fold_key(text: str) -> str:
    """``lookup_key`` without diacritics: ASCII-only exports write "Nemecko", "Osterreich"."""
    decomposed = unicodedata.normalize("NFKD", lookup_key(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def unambiguous_folds(table: dict[str, str]) -> dict[str, str]:
    """``table`` keyed by ``fold_key``, leaving out a folded key that two values share."""
    folded: dict[str, str | None] = {}
    for key, value in table.items():
        fold = fold_key(key)
        folded[fold] = value if folded.get(fold, value) == value else None
    return {key: value for key, value in folded.items() if value is not None}
