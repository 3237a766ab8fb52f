"""A website as its registered domain: "https://www.Firma.cz/kontakt" -> "firma.cz".

The domain a company registered is what two systems share when one writes
"www.firma.cz" and the other "http://eshop.firma.cz/"; "firma.co.uk" shows why the
registered domain needs the public suffix list (tldextract), not "the last two labels".
tldextract reads its bundled snapshot of the list: a mapping run never goes to the network.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import tldextract

from mappings.errors import InvalidValue
from mappings.normalizers._common import as_str

LABEL = "website"


@cache
def _extract() -> tldextract.TLDExtract:
    # No suffix-list URLs and no cache folder: the snapshot shipped inside the package only.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def normalize_website(value: Any) -> str:
    """The registered domain, lower case, international labels in Unicode ("müller-bau.de")."""
    text = as_str(value).strip().rstrip("/")
    parts = _extract()(text)
    if not parts.suffix or not parts.domain:
        raise InvalidValue(LABEL, "no registered domain")
    labels = (parts.domain, *parts.suffix.split("."))
    return ".".join(_unicode(label) for label in labels).casefold()


def _unicode(label: str) -> str:
    """"xn--mller-bau-9db" -> "müller-bau": one spelling of an international domain."""
    if not label.lower().startswith("xn--"):
        return label
    try:
        return label.encode("ascii").decode("idna")
    except UnicodeError as exc:
        raise InvalidValue(LABEL, "invalid international domain") from exc
