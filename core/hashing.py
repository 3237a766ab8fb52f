"""The one content hash: of any JSON-like value, stable across runs and machines.

Keys are sorted and values that JSON does not know (dates, Decimals) are written as text, so
the same content always gives the same hash: what idempotency keys, review questions, file
ledgers and steward-decision evidence rest on.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_hash(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
