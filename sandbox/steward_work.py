"""Work for a data steward: a day of edits after the first sync that no rule may decide.

The demo's first night finds only what the generator made (drift the rules correct, two
records no mapping accepts, quarantined). A steward's questions need a history, so after it
people work in their systems, deterministically, as ``tests/e2e/test_review_page.py`` does:

- a salesperson changes a customer's e-mail in the CRM and purchasing records another one
  in the ERP: two trusted sources change the same field differently (a conflict);
- an accounts clerk enters a customer again, without IČO or VAT ID, its name mistyped, at
  the same address: a pair the matcher scores between its thresholds (a match candidate).

    day = steward_day(estate)   # after the first run and the systems' imports
    day.lines()                 # what the people did, for the demo to print
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sandbox import accounting_db
from sandbox.estate import SandboxEstate

CRM_EMAIL = "obchod.novy@{domain}"
ERP_EMAIL = "nakup.novy@{domain}"
DUPLICATE_ID = "ACC-DUP-1"
BRANCH_STREET = "Nádražní 12"


@dataclass(frozen=True)
class StewardDay:
    company: str  # the conflict's company, as its legal name
    crm_account: str
    erp_partner: str
    crm_email: str
    erp_email: str
    duplicate_of: str  # the accounting customer entered again
    duplicate: str  # the new customer number

    def lines(self) -> list[str]:
        return [f"CRM account {self.crm_account} ({self.company}): a salesperson sets e-mail {self.crm_email}",
                f"ERP partner {self.erp_partner} (the same company): purchasing sets {self.erp_email}",
                f"Accounting: a clerk enters customer {self.duplicate_of} again as {self.duplicate} from a "
                "phone order: its name mistyped, a branch's street, no IČO, VAT ID or e-mail"]


def steward_day(estate: SandboxEstate) -> StewardDay:
    crm, erp = _company_in_crm_and_erp(estate)
    domain = crm["Email"].split("@")[1]
    crm_email, erp_email = CRM_EMAIL.format(domain=domain), ERP_EMAIL.format(domain=domain)
    estate.crm.store.upsert({"AccountId": crm["AccountId"], "Email": crm_email}, expected=crm["Version"])
    estate.erp.edit({str(erp["PARTNER_ID"]): {"EMAIL": erp_email}})
    estate.erp.export(datetime.now(UTC).date())
    original = _customer_to_enter_again(estate, exclude=crm["CompanyId"])
    accounting_db.load(estate.accounting, [_entered_again(original)])
    return StewardDay(crm["Name"], crm["AccountId"], str(erp["PARTNER_ID"]), crm_email, erp_email,
                      original["customer_no"], DUPLICATE_ID)


def _company_in_crm_and_erp(estate: SandboxEstate) -> tuple[dict, dict]:
    """The first CRM account (by id) with an IČO, an e-mail and an ERP partner of the same IČO
    that holds the same e-mail: the first run corrected nothing in that field."""
    erp = {p["ICO"]: p for p in estate.erp.partners() if p.get("ICO")}
    for account in sorted(estate.crm.accounts(), key=lambda a: a["AccountId"]):
        partner = erp.get(account.get("CompanyId") or "")
        email = (account.get("Email") or "").strip().lower()
        if partner and email and email == (partner.get("EMAIL") or "").strip().lower():
            return account, partner
    raise RuntimeError("the estate has no company in both the CRM and the ERP to seed a conflict with")


def _customer_to_enter_again(estate: SandboxEstate, exclude: str) -> dict:
    rows = sorted(accounting_db.customers(estate.accounting), key=lambda r: r["customer_no"])
    return next(r for r in rows if r.get("ico") and r["ico"] != exclude and r.get("country") == "CZ")


def _entered_again(row: dict) -> dict:
    """The clerk's second entry, from a phone order: the name with two letters swapped, the
    branch's street instead of the seat's, the same phone; no IČO, VAT ID, e-mail or bank
    account. The matcher scores it 0.75 against the customer's records in the demo estate:
    likely the same company, not sure enough to link (hub.yaml matching.thresholds)."""
    name = row["company_name"]
    typo = name[:2] + name[3] + name[2] + name[4:] if len(name) > 5 else name + "x"
    return {**row, "customer_no": DUPLICATE_ID, "company_name": typo, "street": BRANCH_STREET,
            "ico": None, "dic": None, "email": None, "iban": None, "updated_at": None}
