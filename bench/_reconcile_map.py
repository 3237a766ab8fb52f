"""The bench's map stage: the three systems' raw columns to canonical columns, column-wise in polars.

A re-implementation of what mappings/specs/*.yaml and the normalizers do, for the sandbox's
formats only (the hub maps record by record through mappings.engine, about 130 µs a record,
which a million-company bench cannot afford); the matching tests use the real engine.
"""

from __future__ import annotations

import polars as pl

from mappings.customer import CUSTOMER_FIELDS

COLUMNS = {  # canonical field -> raw column, per system
    "crm": {"record_id": "AccountId", "legal_name": "Name", "company_id": "CompanyId", "vat_id": "VatId",
            "street": "Street", "city": "City", "postal_code": "PostalCode", "country": "CountryCode",
            "email": "Email", "phone": "Phone"},
    "accounting": {"record_id": "customer_no", "legal_name": "company_name", "company_id": "ico", "vat_id": "dic",
                   "street": "street", "city": "city", "postal_code": "zip", "country": "country",
                   "email": "email", "phone": "phone", "iban": "iban", "payment_terms_days": "payment_terms_days",
                   "credit_limit": "credit_limit"},
    "erp": {"record_id": "PARTNER_ID", "legal_name": "NAZEV", "company_id": "ICO", "vat_id": "DIC",
            "street": "ULICE", "city": "MESTO", "postal_code": "PSC", "country": "ZEME", "email": "EMAIL",
            "phone": "TELEFON", "payment_terms_days": "SPLATNOST_DNI", "credit_limit": "UVEROVY_LIMIT"},
}
FORMS = [("spol\\. s r\\. ?o\\.|s\\. ?r\\. ?o\\.", "s.r.o."), ("akciová společnost|a\\. ?s\\.", "a.s."),
         ("veřejná obchodní společnost|v\\. ?o\\. ?s\\.", "v.o.s."), ("komanditní společnost|k\\. ?s\\.", "k.s."),
         ("GmbH", "GmbH"), ("Sp\\. z o\\.o\\.", "Sp. z o.o.")]


def map_system(raw: pl.DataFrame, system: str) -> pl.DataFrame:
    source = COLUMNS[system]
    text = {f: _blank(pl.col(c)) for f, c in source.items()}
    exprs = [pl.lit(system).alias("system"), text["record_id"].alias("record_id"),
             text["legal_name"].str.replace_all(r"\s+", " ").alias("legal_name"),
             _legal_form(text["legal_name"]).alias("legal_form"),
             text["company_id"].str.replace_all(r"\D", "").alias("company_id"),
             text["vat_id"].str.replace_all(r"\s", "").str.to_uppercase().alias("vat_id"),
             text["postal_code"].str.replace_all(r"\s", "").alias("postal_code"),
             text["email"].str.to_lowercase().alias("email"), _phone(text["phone"]).alias("phone")]
    exprs += [text[f].alias(f) for f in ("street", "city", "country", "iban", "payment_terms_days")
              if f in text]
    if "credit_limit" in text:
        exprs.append(text["credit_limit"].str.replace(",", ".").alias("credit_limit"))
    mapped = raw.select(exprs)
    missing = [pl.lit(None, pl.String).alias(f) for f in CUSTOMER_FIELDS if f not in mapped.columns]
    return mapped.with_columns(missing).select("system", "record_id", *CUSTOMER_FIELDS)


def _blank(column: pl.Expr) -> pl.Expr:
    text = column.cast(pl.String).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _legal_form(name: pl.Expr) -> pl.Expr:
    result = pl.lit(None, pl.String)
    for pattern, canonical in reversed(FORMS):
        result = pl.when(name.str.contains(f"(?i)(?:{pattern})$")).then(pl.lit(canonical)).otherwise(result)
    return result


def _phone(phone: pl.Expr) -> pl.Expr:
    digits = phone.str.replace_all(r"[\s/-]", "")
    return pl.when(digits.str.starts_with("+")).then(digits).otherwise(pl.lit("+420") + digits)
