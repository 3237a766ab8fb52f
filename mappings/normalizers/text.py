"""Text: Unicode NFC and single spaces.

Diacritics are kept: a missing háček is a real difference, which reconciliation corrects.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from mappings.normalizers._common import as_str

# \s covers no-break space (U+00A0), narrow no-break space (U+202F), tabs and line breaks.
_SPACES = re.compile(r"\s+")


def normalize_text(value: Any) -> str | None:
    """NFC, every run of whitespace as one space, trimmed; an empty result is None."""
    text = unicodedata.normalize("NFC", as_str(value))
    text = _SPACES.sub(" ", text).strip()
    return text or None
