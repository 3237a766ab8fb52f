"""A day of business in the sandbox estate: a share of each system's records changed by its users.

In each system, as many records as ``share`` of it, split evenly: names changed (a word
added before the legal form), addresses moved, new companies, deletions. Each system is
changed through its own storage, the way its users' edits land there: the CRM's accounts get
a new ModifiedAt and Version, the accounting rows a new updated_at, the ERP's master data
changes and it writes its nightly export again. The CRM's SOAP interface reports no
deletions (it lists accounts modified since a time), so nothing is deleted there: a deletion
the hub cannot see would be no test of it.

    changes = apply_changes(estate, share=0.01, seed=1)
    changes.ids("crm")   # every record id changed, added or deleted in the CRM
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from sandbox import accounting_db, names
from sandbox.estate import SandboxEstate
from sandbox.generator import TrueCompany, new_company, system_row

KINDS = ("renamed", "moved", "added", "deleted")
SYSTEMS = ("crm", "accounting", "erp")
DELETES = {"crm": False, "accounting": True, "erp": True}
# system -> (record id, name, street, city, postal code) columns
COLUMNS = {"crm": ("AccountId", "Name", "Street", "City", "PostalCode"),
           "accounting": ("customer_no", "company_name", "street", "city", "zip"),
           "erp": ("PARTNER_ID", "NAZEV", "ULICE", "MESTO", "PSC")}
NEW_IDS = {"crm": "CRM-N{:07d}", "accounting": "ACCN{:07d}", "erp": "PN{:07d}"}
NAME_WORDS = ("Nova", "Group", "Trade", "Holding", "Servis", "Plus")


@dataclass
class Changes:
    """Record ids by system and kind of change."""

    made: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: {s: {k: [] for k in KINDS} for s in SYSTEMS})

    def ids(self, system: str) -> set[str]:
        return {i for kind in KINDS for i in self.made[system][kind]}

    def counts(self) -> dict[str, dict[str, int]]:
        return {s: {k: len(ids) for k, ids in kinds.items()} for s, kinds in self.made.items()}


def apply_changes(estate: SandboxEstate, share: float = 0.01, seed: int = 1) -> Changes:
    rng, changes = random.Random(seed), Changes()
    taken = {k for c in estate.generated.registry for k in (c.company_id, c.vat_id) if k}
    rows = {"crm": estate.generated.crm_accounts, "accounting": estate.generated.accounting_rows,
            "erp": estate.generated.erp_partners}
    for system in SYSTEMS:
        per_kind = max(1, round(share * len(rows[system]) / 4))
        ids = sorted(str(r[COLUMNS[system][0]]) for r in rows[system]
                     if (system, str(r[COLUMNS[system][0]])) in estate.generated.truth.records)
        picked = rng.sample(ids, min(len(ids), 3 * per_kind))
        made = changes.made[system]
        made["renamed"], made["moved"] = picked[:per_kind], picked[per_kind:2 * per_kind]
        if DELETES[system]:
            made["deleted"] = picked[2 * per_kind:]
        made["added"] = [NEW_IDS[system].format(seed * 10**6 + i) for i in range(per_kind)]
        edits = _edits(rng, estate, system, made, taken)
        WRITERS[system](estate, edits)
    return changes


def _edits(rng: random.Random, estate: SandboxEstate, system: str, made: dict[str, list[str]],
           taken: set[str]) -> dict[str, dict[str, Any] | None]:
    """Per record id: the values to write (the whole row of a new one), or None to delete."""
    record_id, name, street, city, postal = COLUMNS[system]
    truth = estate.generated.truth
    edits: dict[str, dict[str, Any] | None] = dict.fromkeys(made["deleted"])
    for rid in made["renamed"]:
        company = truth.companies[truth.records[(system, rid)]]
        edits[rid] = {name: _renamed(rng, company)}
    for rid in made["moved"]:
        company = truth.companies[truth.records[(system, rid)]]
        street_name, new_city, new_postal = names.address(rng, company.country)
        if system != "accounting":  # the CRM and the ERP keep "110 00"; accounting "11000"
            new_postal = names.spaced_postal(new_postal, company.country)
        edits[rid] = {street: f"{street_name} {rng.randint(1, 2999)}", city: new_city,
                      postal: new_postal}
    for i, rid in enumerate(made["added"]):
        edits[rid] = system_row(system, rid, new_company(rng, i, taken))
    return edits


def _renamed(rng: random.Random, company: TrueCompany) -> str:
    base, form = names.split_form(company.name, company.legal_form)
    return names.join_form(f"{base} {rng.choice(NAME_WORDS)}", form)


def _write_crm(estate: SandboxEstate, edits: dict[str, dict[str, Any] | None]) -> None:
    """Changed accounts at their next Version, modified now; new ones at Version 1."""
    now = datetime.now(UTC).isoformat()
    current = {r["AccountId"]: r for r in estate.crm.store.some(sorted(edits))}
    rows = []
    for rid, values in edits.items():
        if values is None:
            continue
        old = current.get(rid, {"Version": 0})
        rows.append({**old, **values, "ModifiedAt": now, "Version": int(old["Version"]) + 1})
    estate.crm.load(rows)


def _write_accounting(estate: SandboxEstate, edits: dict[str, dict[str, Any] | None]) -> None:
    table, now = accounting_db.customers_table, datetime.now(UTC).replace(tzinfo=None)
    key = table.c.customer_no
    with estate.accounting.begin() as conn:
        known = {r for chunk in _chunks(sorted(edits)) for r in conn.scalars(
            sa.select(key).where(key.in_(chunk)))}
        for rid, values in edits.items():
            if values is None:
                conn.execute(table.delete().where(key == rid))
            elif rid in known:
                conn.execute(table.update().where(key == rid).values(**values, updated_at=now))
    accounting_db.load(estate.accounting, [v for rid, v in edits.items() if v and rid not in known])


def _write_erp(estate: SandboxEstate, edits: dict[str, dict[str, Any] | None]) -> None:
    estate.erp.edit(edits)
    estate.erp.export(datetime.now(UTC).date())  # its nightly export, with the day's edits


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[start:start + size] for start in range(0, len(ids), size)]


WRITERS = {"crm": _write_crm, "accounting": _write_accounting, "erp": _write_erp}
