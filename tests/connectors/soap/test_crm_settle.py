"""After a crash, the CRM connector names the upserts the CRM already holds, by reading only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.base import Settleable, Write
from connectors.soap.crm import CrmSoapConnector, Settings

LONG_AGO = "2024-05-01T10:00:00Z"


def _account(account_id: str) -> dict:
    return {"AccountId": account_id, "Name": "Firma s.r.o.", "City": "Praha", "CountryCode": "CZ",
            "ModifiedAt": LONG_AGO}


def test_settle_finds_what_the_crm_holds_and_changes_nothing(crm_service, crm_conn):
    crm_service.load([_account("CRM-1"), _account("CRM-2"), _account("CRM-3")])
    connector = CrmSoapConnector("crm", Settings(retry_attempts=2), crm_conn)
    assert isinstance(connector, Settleable)
    claimed = datetime.now(UTC) - timedelta(seconds=1)
    writes = [Write("k-1", "CRM-1", {"City": "Brno"}, "1"),
              Write("k-2", "CRM-2", {"City": "Plzeň"}, "1"),
              # the values it had all along: not changed since the claim, so not received
              Write("k-3", "CRM-3", {"City": "Praha", "Name": None}, "1"),
              Write("k-4", "CRM-NEW", {"Name": "Nová s.r.o."})]
    connector.write([writes[0], writes[3]], "run1-crm")  # the crash came after these two
    # someone set CRM-2 to other values since the claim: the write did not arrive
    crm_service.load([{**_account("CRM-2"), "City": "Plzen", "ModifiedAt": datetime.now(UTC)}])

    result = connector.settle(writes, claimed)

    assert result.applied == ["k-1", "k-4"] and result.refused == []
    assert {a["AccountId"]: a["Version"] for a in crm_service.accounts()} == \
        {"CRM-1": 2, "CRM-2": 1, "CRM-3": 1, "CRM-NEW": 1}
