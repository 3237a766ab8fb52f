"""Realistic raw records of one company as each system holds it, typed differently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARES_SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ares"


def crm_account(**changes: Any) -> dict[str, Any]:
    record = {
        "AccountId": "CRM-000123",
        "Name": "Dvořák a syn spol. s r. o.",
        "CompanyId": "25596641",
        "VatId": "CZ 255 96 641",
        "Street": "Vinohradská  12 / 4",
        "City": "Praha",
        "PostalCode": "120 00",
        "CountryCode": "CZ",
        "Email": "Info@Dvorak-Syn.cz",
        "Phone": "602 123 456",
        "ModifiedAt": "2026-01-05T10:00:00Z",
        "Version": 7,
    }
    return record | changes


def accounting_row(**changes: Any) -> dict[str, Any]:
    record = {
        "customer_no": "ACC10001",
        "company_name": "Dvořák a syn s.r.o.",
        "ico": "25596641",
        "dic": "25596641",  # the prefix left out, as accountants often do
        "street": "Vinohradská 12/4",
        "city": "Praha",
        "zip": "12000",
        "country": "CZ",
        "email": "info@dvorak-syn.cz",
        "phone": "+420602123456",
        "iban": "CZ65 0800 0000 1920 0014 5399",
        "payment_terms_days": 14,
        "credit_limit": "150000.50",
        "updated_at": "2026-01-05T02:00:00",
    }
    return record | changes


def erp_row(**changes: Any) -> dict[str, Any]:
    record = {
        "PARTNER_ID": "P-1001",
        "NAZEV": "Dvořák a syn, s.r.o.",
        "ICO": "25596641",
        "DIC": "CZ25596641",
        "ULICE": "Vinohradská 12/4",
        "MESTO": "Praha",
        "PSC": "120\u00a000",
        "ZEME": "Česká republika",
        "EMAIL": "info@dvorak-syn.cz",
        "TELEFON": "00420 602 123 456",
        "SPLATNOST_DNI": "30",
        "UVEROVY_LIMIT": "150 000,50",
    }
    return record | changes


def ares_sample(ico: str) -> dict[str, Any]:
    text = (ARES_SAMPLES / f"ekonomicke-subjekty-{ico}.json").read_text(encoding="utf-8")
    return json.loads(text)
