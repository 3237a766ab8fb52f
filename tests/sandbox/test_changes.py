"""A day of business in the sandbox: each system's records renamed, moved, added and deleted
by its own users, visible through the system's own storage and interface, nothing else touched."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.changes import COLUMNS, apply_changes
from sandbox.estate import SandboxEstate

pytestmark = pytest.mark.integration


def _by_id(estate: SandboxEstate) -> dict[str, dict[str, dict[str, Any]]]:
    return {system: {str(r[COLUMNS[system][0]]): r for r in rows}
            for system, rows in estate.system_records().items()}


def test_each_kind_of_change_shows_up_in_each_system(sandbox_estate: SandboxEstate) -> None:
    before = _by_id(sandbox_estate)
    changes = apply_changes(sandbox_estate, share=0.1, seed=3)
    after = _by_id(sandbox_estate)
    for system, made in changes.made.items():
        _, name, street, city, _ = COLUMNS[system]
        assert made["renamed"] and made["moved"] and made["added"]
        assert all(after[system][i][name] != before[system][i][name] for i in made["renamed"])
        assert all((after[system][i][street], after[system][i][city])
                   != (before[system][i][street], before[system][i][city]) for i in made["moved"])
        assert all(i not in before[system] and after[system][i][name] for i in made["added"])
        assert all(i in before[system] and i not in after[system] for i in made["deleted"])
        untouched = set(before[system]) - changes.ids(system)
        assert all(after[system][i] == before[system][i] for i in untouched), system
    assert changes.made["crm"]["deleted"] == []  # its interface reports no deletions
    assert changes.made["accounting"]["deleted"] and changes.made["erp"]["deleted"]


def test_changed_accounts_are_the_crms_latest(sandbox_estate: SandboxEstate) -> None:
    """The CRM lists accounts by ModifiedAt: the changed ones come last, at a new Version."""
    before = _by_id(sandbox_estate)["crm"]
    changes = apply_changes(sandbox_estate, share=0.1, seed=3)
    accounts = sorted(sandbox_estate.crm.accounts(),
                      key=lambda a: (a["ModifiedAt"], a["AccountId"]))
    changed = changes.ids("crm")
    assert {a["AccountId"] for a in accounts[-len(changed):]} == changed
    assert all(a["Version"] == before[a["AccountId"]]["Version"] + 1
               for a in accounts if a["AccountId"] in changed and a["AccountId"] in before)


def test_the_erp_exports_its_changes_that_night(sandbox_estate: SandboxEstate) -> None:
    changes = apply_changes(sandbox_estate, share=0.1, seed=3)
    export = sorted((sandbox_estate.root / "erp" / "export").glob("customers-*.csv"))[-1]
    text = export.read_text(encoding="cp1250")
    assert all(i in text for i in changes.made["erp"]["added"])
    assert not any(f"{i};" in text for i in changes.made["erp"]["deleted"])
