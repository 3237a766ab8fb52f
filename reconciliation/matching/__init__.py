"""Record linkage as data-driven rules: deterministic keys, then Fellegi-Sunter for the rest.

- ``settings``: the rules (hub.yaml ``matching:``), validated
- ``features``: derived columns (folded names, name without legal form, e-mail domain)
- ``blocking``: candidate pairs by polars joins
- ``comparisons``: agreement levels per pair (exact, Jaro-Winkler, token set, numeric, date)
- ``fellegi_sunter`` / ``training``: m, u, prior; EM
- ``clustering``: connected components; constrained union-find where a rule is at stake
- ``engine``: the Linker facade
"""

from reconciliation.matching.engine import Linker, LinkResult, StewardPairs
from reconciliation.matching.settings import MatchSettings

__all__ = ["LinkResult", "Linker", "MatchSettings", "StewardPairs"]
