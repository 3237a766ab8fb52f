"""``looks_mojibake`` asks ftfy only about the stretches around non-ASCII characters: it must
answer exactly as ``ftfy.badness.is_bad`` on the whole text, whatever the text."""

from __future__ import annotations

import random

from ftfy.badness import MOJIBAKE_CATEGORIES, is_bad

from connectors.files.sniff import looks_mojibake

# characters the pattern is made of: its categories (ranges expanded), letters, the separators
# the assessment joins values with, spaces and the literals of its special cases
_ODD = "".join(chr(c) for c in range(0x80, 0x250)) + "ÂÃÎÐØÙ€œŠš¢£Ÿž×²³à√≈‚ÄвЂГўВΒΓΞΟβā°µ"
_ODD += "".join(MOJIBAKE_CATEGORIES.values()).replace("-", "")
_PLAIN = "aAzZkK  \x1f\t.,?!;:0123456789Dvořák Třebíč Žižkova Růžička"


def _text(rng: random.Random) -> str:
    """Mostly plain Czech-like text, a few odd characters in some of it."""
    odd = rng.choice([0.0, 0.02, 0.1, 0.5])
    return "".join(rng.choice(_ODD if rng.random() < odd else _PLAIN)
                   for _ in range(rng.randint(0, 60)))


def test_it_answers_as_ftfy_on_the_whole_text() -> None:
    rng = random.Random(13)
    verdicts = []
    for _ in range(40_000):
        text = _text(rng)
        if rng.random() < 0.5:  # long ASCII stretches between, as in real rows
            text = "x" * rng.randint(0, 20) + text + "\x1f" + "ab " * rng.randint(0, 10) + text
        verdicts.append(looks_mojibake(text))
        assert verdicts[-1] == (not text.isascii() and is_bad(text)), repr(text)
        parts = text.split("\x1f")  # as the assessment hands a row over: its values too
        assert looks_mojibake(text, parts) == verdicts[-1], repr(text)
    assert 0.2 < sum(verdicts) / len(verdicts) < 0.8  # both answers well exercised


def test_mojibake_at_the_start_or_after_ascii_is_found() -> None:
    assert looks_mojibake("DvoĹ™Ăˇk\x1fPraha")
    assert looks_mojibake("P0001\x1f" + "x" * 50 + "DvoĹ™Ăˇk")
    assert looks_mojibake("Ã sedm") and not looks_mojibake("Dvořák a syn\x1fTřebíč")
