"""E-mail addresses: trimmed, lower case, with a plain syntax check.

Lower case on the whole address: the local part is case-sensitive in theory, but no
mailbox provider the estate deals with treats "Info@" and "info@" as two mailboxes, and
the reconciliation must not report them as a difference.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from mappings.errors import InvalidValue
from mappings.normalizers._common import as_str

LABEL = "e-mail"
# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not ours to judge.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def normalize_email(value: Any) -> str:
    text = unicodedata.normalize("NFC", as_str(value)).strip()
    text = text.lower().removeprefix("mailto:")
    if not _EMAIL.match(text):
        raise InvalidValue(LABEL, "not an e-mail address")
    return text
