"""The generated estate as polars frames: canonical records mapped by the real specs, and the truth.

For the matching tests and the bench's quality figures; the hub itself reads the store.
"""

from __future__ import annotations

import polars as pl

from mappings.customer import CUSTOMER_FIELDS
from mappings.engine import load_spec, map_record
from mappings.errors import MappingError
from sandbox.generator import Estate

SYSTEM_ROWS = {"crm": "crm_accounts", "accounting": "accounting_rows", "erp": "erp_partners"}


def canonical_frame(estate: Estate) -> pl.DataFrame:
    """One row per record that maps (the broken ones are quarantined in the hub, left out here)."""
    rows: list[dict[str, object]] = []
    for system, attribute in SYSTEM_ROWS.items():
        spec = load_spec(system)
        for record in getattr(estate, attribute):
            payload = {k: v if v is None or isinstance(v, str) else str(v) for k, v in record.items()}
            try:
                values = map_record(spec, payload).present()
            except MappingError:
                continue
            rows.append({"system": system, "record_id": str(record[spec.record_id]), **values})
    schema = {"system": pl.String, "record_id": pl.String, **{f: pl.String for f in CUSTOMER_FIELDS}}
    return pl.DataFrame([{k: _text(r.get(k)) for k in schema} for r in rows], schema=schema)


def truth_frame(estate: Estate) -> pl.DataFrame:
    keys = estate.truth.records
    return pl.DataFrame({"system": [s for s, _ in keys], "record_id": [r for _, r in keys],
                         "entity": list(keys.values())})


def _text(value: object) -> str | None:
    return None if value is None else str(value)
