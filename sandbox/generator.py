"""A seeded generator of companies spread over CRM, accounting and ERP, with ground truth.

Each company has one true state (``TrueCompany``). Each system gets its own copy with the
drift real estates show: names without diacritics or with another spelling of the legal form,
typos, a moved address known only to sales, a missing VAT ID, a missing IČO, phone and postal
code formats, stale payment terms, plus a few records no mapping can accept. The drift is
placed where the documented source priorities (config/hub.yaml) can undo it, so that after a
sync every system must hold the truth; ``GroundTruth`` says which record is which company.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from sandbox import names

CZ_SHARE, PROSPECT_SHARE = 0.85, 0.05
# Shares of Czech companies the registries know as dissolved (ARES) or in insolvency (ISIR).
DISSOLVED_SHARE, INSOLVENT_SHARE = 0.03, 0.03
REGISTRY_DAY = date(2026, 6, 30)  # dissolutions and insolvencies are dated before this day


@dataclass(frozen=True, slots=True)  # slots: a million of them without a dict each
class TrueCompany:
    key: str
    company_id: str | None
    vat_id: str | None
    name: str  # full legal name with its legal form, as the registry spells it
    legal_form: str
    legal_form_code: str | None  # ARES pravniForma
    street_name: str
    house_no: int
    orientation_no: int | None
    city: str
    postal_code: str  # compact, "12000"
    country: str
    email: str
    phone: str  # E.164
    iban: str | None
    payment_terms_days: int
    credit_limit: Decimal
    dissolved_on: date | None = None
    vat_valid: bool = True
    insolvent_since: date | None = None  # an insolvency proceeding ISIR lists as ongoing

    @property
    def street(self) -> str:
        suffix = f"/{self.orientation_no}" if self.orientation_no else ""
        return f"{self.street_name} {self.house_no}{suffix}"


@dataclass
class GroundTruth:
    companies: dict[str, TrueCompany] = field(default_factory=dict)
    # (system, record_id) -> company key
    records: dict[tuple[str, str], str] = field(default_factory=dict)
    # (system, record_id) of records made unreadable on purpose, with why
    broken: dict[tuple[str, str], str] = field(default_factory=dict)
    # (system, record_id) -> fields whose value in that system the sync must correct (frozen,
    # and most of them the one shared empty set: a million estates hold three million of them)
    drifted: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    """What the default demo estate leaves out; the matching tests and the bench turn it on.

    ``hard_negatives``: share of companies created as a near twin of an earlier one (a
    sister company in the same building, its name a word or a suffix apart, often on the same
    switchboard or e-mail domain; or a competitor in the same city with a name a letter or a
    word away): different companies a matcher must keep apart. It also turns on the hard
    drift of true matches (typos, short names, word order, abbreviations, legal-form
    spellings, a clerk's short address, missing or personal e-mails and phones, phone
    formats); ``hard_cases`` counts what it made. ``without_ids``: share of
    records that lose both IČO and VAT ID, so only names and addresses can link them.
    ``varied_names``: invented words in names and streets, so that a million companies do
    not repeat each other's names (and a faster phone number draw).
    """

    hard_negatives: float = 0.0
    without_ids: float = 0.0
    varied_names: bool = False


@dataclass
class Estate:
    """Everything the sandbox systems start with."""

    crm_accounts: list[dict] = field(default_factory=list)
    accounting_rows: list[dict] = field(default_factory=list)
    erp_partners: list[dict] = field(default_factory=list)
    registry: list[TrueCompany] = field(default_factory=list)  # what ARES, VIES and ISIR know
    truth: GroundTruth = field(default_factory=GroundTruth)


def generate(n_companies: int = 200, seed: int = 7, options: Options = Options()) -> Estate:
    rng = random.Random(seed)
    estate = _fill(rng, n_companies, options, set(), 0)
    _add_broken_records(rng, estate)
    return estate


def generate_chunks(n_companies: int, chunk: int, seed: int = 7,
                    options: Options = Options()) -> Iterator[Estate]:
    """A large estate in parts of ``chunk`` companies, identifiers unique across all parts,
    so that a million companies never sit in memory at once (the bench writes each to disk)."""
    rng, taken = random.Random(seed), set[str]()
    for start in range(0, n_companies, chunk):
        yield _fill(rng, min(chunk, n_companies - start), options, taken, start)


def _fill(rng: random.Random, n: int, options: Options, taken: set[str], offset: int) -> Estate:
    estate = Estate()
    companies = _unique_companies(rng, n, options, taken, offset)
    for i, company in enumerate(companies, start=offset):
        registered = _registered_state(rng, company)
        estate.truth.companies[company.key] = registered
        estate.registry.append(registered)
        _spread(rng, estate, registered, i, options)
    return estate


def _unique_companies(rng: random.Random, n: int, options: Options, taken: set[str],
                      offset: int = 0) -> list[TrueCompany]:
    """IČO and VAT IDs are unique in reality; a rare random repeat is drawn again."""
    companies: list[TrueCompany] = []
    while len(companies) < n:
        company = _company(rng, offset + len(companies), options)
        if options.hard_negatives and companies and rng.random() < options.hard_negatives:
            company = _twin(rng, rng.choice(companies), company)
        keys = {k for k in (company.company_id, company.vat_id) if k}
        if options.varied_names:  # the register refuses a second company of the same name
            keys.add("name:" + " ".join(sorted(names.slug(company.name).split("-"))))
        if not keys & taken:
            taken |= keys
            companies.append(company)
    return companies


def _twin(rng: random.Random, model: TrueCompany, fresh: TrueCompany) -> TrueCompany:
    """A different company close to ``model``, which a matcher must keep apart from it.

    Most are sister companies in the same building (the same street, number and city), often
    on the same switchboard or e-mail domain, named one word or one suffix apart ("Novák
    Stavby s.r.o." / "Novák Stavby Morava s.r.o."); the rest a competitor in the same city
    with a name a letter or a word away. Each keeps its own IČO, but records without IDs
    (``Options.without_ids``) leave the names, addresses and contacts to tell them apart.
    """
    form = model.legal_form if rng.random() < 0.85 else fresh.legal_form
    code = model.legal_form_code if form == model.legal_form else fresh.legal_form_code
    if model.country != "CZ" or fresh.country != "CZ":
        form, code = model.legal_form, model.legal_form_code
    sister = rng.random() < 0.6
    naming = names.sister_name if sister else names.near_name
    base, _ = names.split_form(model.name, model.legal_form)
    name = naming(rng, names.join_form(base, form), form)
    twin = replace(fresh, country=model.country, city=model.city, postal_code=model.postal_code,
                   legal_form=form, legal_form_code=code, name=name)
    if model.country != fresh.country:
        twin = replace(twin, company_id=model.company_id and fresh.company_id,
                       vat_id=fresh.vat_id if fresh.country == model.country else None)
    slug = names.slug(twin.name)
    email = f"{slug}@{slug}.{twin.country.lower()}"
    if sister:  # same building; often the same switchboard and the group's e-mail domain
        twin = replace(twin, street_name=model.street_name, house_no=model.house_no,
                       orientation_no=model.orientation_no)
        if rng.random() < 0.6:
            twin = replace(twin, phone=model.phone)
        if rng.random() < 0.5:
            local = rng.choice(["info", "obchod", "office", slug.split("-")[-1] or "info"])
            email = f"{local}@{model.email.split('@')[1]}"
            if email == model.email:
                email = f"{slug}@{model.email.split('@')[1]}"
    return replace(twin, email=email)


def _registered_state(rng: random.Random, company: TrueCompany) -> TrueCompany:
    roll = rng.random()
    if company.country == "CZ" and roll < DISSOLVED_SHARE:
        return replace(company, dissolved_on=REGISTRY_DAY - timedelta(days=rng.randint(0, 400)))
    if company.country == "CZ" and roll < DISSOLVED_SHARE + INSOLVENT_SHARE:
        # Dated from the same roll, not a new draw: every other value of a seed's estate stays
        # as it was before ISIR joined the sandbox.
        days = int((roll - DISSOLVED_SHARE) / INSOLVENT_SHARE * 400)
        return replace(company, insolvent_since=REGISTRY_DAY - timedelta(days=days))
    if company.vat_id and roll > 0.98:
        return replace(company, vat_valid=False)
    return company


def _company(rng: random.Random, i: int, options: Options = Options()) -> TrueCompany:
    country = "CZ" if rng.random() < CZ_SHARE else rng.choice(["SK", "DE", "AT", "PL"])
    naming = names.varied_company_name if options.varied_names else names.company_name
    name, form, form_code = naming(rng, country)
    street_name, city, postal = names.address(rng, country)
    if options.varied_names:
        street_name = names.varied_street(rng)
    draw_phone = names.quick_phone if options.varied_names else names.phone
    ico = names.czech_ico(rng) if country == "CZ" else None
    return TrueCompany(
        key=f"T{i:06d}", company_id=ico, vat_id=names.vat_id(rng, country, ico),
        name=name, legal_form=form, legal_form_code=form_code,
        street_name=street_name, house_no=rng.randint(1, 2999),
        orientation_no=rng.choice([None, rng.randint(1, 120)]) if country == "CZ" else None,
        city=city, postal_code=postal, country=country,
        email=f"{names.slug(name)}@{names.slug(name)}.{country.lower()}",
        phone=draw_phone(rng, country), iban=names.iban(rng, country),
        payment_terms_days=rng.choice([14, 14, 30, 30, 30, 45, 60]),
        credit_limit=Decimal(rng.choice([0, 50_000, 100_000, 150_000, 250_000, 500_000]))
        + Decimal(rng.choice([0, 0, 0, "0.50"])),
    )


def _spread(rng: random.Random, estate: Estate, company: TrueCompany, i: int,
            options: Options = Options()) -> None:
    prospect = rng.random() < PROSPECT_SHARE
    moved = None if prospect or rng.random() > 0.1 else names.address(rng, company.country)
    _add(estate, "crm", f"CRM-{i:06d}", company,
         _crm_drift(rng, company) | _no_ids(rng, options)
         | _hard_drift(rng, company, "crm", company.street, options))
    _retype_phone(rng, estate.crm_accounts[-1], "Phone", options)
    if prospect:
        return
    old_address = _old_address(company, moved)
    street = str(old_address.get("street", company.street))
    _add(estate, "accounting", f"ACC{10000 + i}", company,
         {**old_address, **_acc_drift(rng, company), **_no_ids(rng, options),
          **_hard_drift(rng, company, "accounting", street, options)})
    _retype_phone(rng, estate.accounting_rows[-1], "phone", options)
    _add(estate, "erp", f"P{50000 + i}", company,
         {**old_address, **_erp_drift(rng, company), **_no_ids(rng, options),
          **_hard_drift(rng, company, "erp", street, options)})
    _retype_phone(rng, estate.erp_partners[-1], "TELEFON", options)


def _retype_phone(rng: random.Random, row: dict, column: str, options: Options) -> None:
    """Hard mode: the same number typed another way (the mapping reads every one of them)."""
    if options.hard_negatives and row[column] and rng.random() < 0.3:
        digits = str(row[column]).replace(" ", "")
        row[column] = names.phone_format(rng, digits if digits.startswith("+") else "+420" + digits)


# Hard mode: how often each system's copy of a true match drifts, per kind of drift. A name
# drifts only where a source the survivorship rules rank higher holds it right (ARES for
# Czech companies; accounting otherwise), and so do the contacts (CRM first).
_NAME_DRIFT = {  # system -> (short name, typo, form spelling, word order, abbreviation,
    #                        no diacritics, upper case)
    "crm": (0.08, 0.12, 0.15, 0.08, 0.06, 0.2, 0.0),
    "accounting": (0.0, 0.03, 0.1, 0.0, 0.02, 0.0, 0.0),
    "erp": (0.02, 0.05, 0.08, 0.03, 0.05, 0.1, 0.15),
}


def _hard_drift(rng: random.Random, c: TrueCompany, system: str, street: str,
                options: Options) -> dict[str, object]:
    """Drift of true matches in hard mode (with ``Options.hard_negatives``; drawn only then, so
    that the other estates' random sequences stay as they were)."""
    if not options.hard_negatives:
        return {}
    drift: dict[str, object] = {}
    if c.country == "CZ" or system != "accounting":
        cut, typo, spelling, order, short, plain, upper = _NAME_DRIFT[system]
        name = c.name
        if rng.random() < cut:
            name = names.short_name(rng, name, c.legal_form)
        elif rng.random() < spelling:
            name = names.form_spelling(rng, name, c.legal_form)
        form = next((f for f in names.ALT_FORM_SPELLINGS.get(c.legal_form, []) if name.endswith(f)),
                    c.legal_form)
        if rng.random() < order:
            name = names.swap_words(rng, name, form)
        if rng.random() < short:
            name = names.abbreviate(rng, name, form)
        if rng.random() < typo:
            name = names.hard_typo(rng, name, form)
        if rng.random() < plain:
            name = strip_diacritics(name)
        if rng.random() < upper:
            name = name.upper()
        if name != c.name:
            drift["name"] = name
    if system != "crm":
        if rng.random() < 0.15:
            drift["street"] = names.short_street(street)
        roll = rng.random()
        if roll < 0.12:
            drift["email"] = None
        elif roll < 0.2 and system == "erp":
            drift["email"] = names.person_email(rng, c.email)
        roll = rng.random()
        if roll < 0.08:
            drift["phone"] = None
        elif roll < 0.16 and system == "erp":  # someone's direct line
            drift["phone"] = names.quick_phone(rng, c.country)
    return drift


def _no_ids(rng: random.Random, options: Options) -> dict[str, object]:
    # Drawn only when asked for, so that the default estate's random sequence stays as it was.
    if options.without_ids and rng.random() < options.without_ids:
        return {"company_id": None, "vat_id": None}
    return {}


def _old_address(company: TrueCompany, moved: tuple[str, str, str] | None) -> dict[str, str]:
    """A company that moved: sales (CRM) know the truth, the others the old address."""
    if moved is None:
        return {}
    street_name, city, postal = moved
    return {"street": f"{street_name} {company.house_no + 7}", "city": city, "postal_code": postal}


def _crm_drift(rng: random.Random, c: TrueCompany) -> dict[str, object]:
    drift: dict[str, object] = {}
    registry_fixes_name = c.country == "CZ"
    roll = rng.random()
    if registry_fixes_name and roll < 0.2:
        drift["name"] = strip_diacritics(c.name)
    elif registry_fixes_name and roll < 0.35:
        drift["name"] = names.legal_form_variant(c.name, c.legal_form)
    elif registry_fixes_name and roll < 0.42:
        drift["name"] = names.typo(rng, c.name)
    if rng.random() < 0.15 and c.company_id:
        drift["vat_id"] = None
    return drift


def _acc_drift(rng: random.Random, c: TrueCompany) -> dict[str, object]:
    drift: dict[str, object] = {}
    if c.country == "CZ" and rng.random() < 0.1:
        drift["name"] = names.legal_form_variant(c.name, c.legal_form)
    if rng.random() < 0.1:
        drift["email"] = "fakturace@" + c.email.split("@")[1]
    return drift


def _erp_drift(rng: random.Random, c: TrueCompany) -> dict[str, object]:
    drift: dict[str, object] = {}
    if c.country == "CZ" and rng.random() < 0.15:
        drift["name"] = c.name.upper()
    if rng.random() < 0.1:
        drift["payment_terms_days"] = c.payment_terms_days + 15
    if rng.random() < 0.05:
        drift["credit_limit"] = c.credit_limit + 25_000
    if c.vat_id and c.company_id and rng.random() < 0.1:
        drift["company_id"] = None  # matched by VAT ID instead
    elif c.company_id and rng.random() < 0.1:
        drift["vat_id"] = None
    return drift


_NO_DRIFT: frozenset[str] = frozenset()


def _add(estate: Estate, system: str, record_id: str, c: TrueCompany, drift: dict[str, object]) -> None:
    true_values = _true_values(c)
    values = true_values | drift
    estate.truth.records[(system, record_id)] = c.key
    estate.truth.drifted[(system, record_id)] = frozenset(
        k for k, v in drift.items() if v != true_values.get(k)) or _NO_DRIFT
    if system == "crm":
        estate.crm_accounts.append(_crm_account(record_id, values, c))
    elif system == "accounting":
        estate.accounting_rows.append(_accounting_row(record_id, values, c))
    else:
        estate.erp_partners.append(_erp_partner(record_id, values))


def _true_values(c: TrueCompany) -> dict[str, object]:
    return {
        "name": c.name, "company_id": c.company_id, "vat_id": c.vat_id, "street": c.street,
        "city": c.city, "postal_code": c.postal_code, "country": c.country, "email": c.email,
        "phone": c.phone, "iban": c.iban, "payment_terms_days": c.payment_terms_days,
        "credit_limit": c.credit_limit,
    }


def _crm_account(record_id: str, v: dict, c: TrueCompany) -> dict:
    return {
        "AccountId": record_id, "Name": v["name"], "CompanyId": v["company_id"] or "",
        "VatId": names.spaced_vat(v["vat_id"]), "Street": v["street"], "City": v["city"],
        "PostalCode": names.spaced_postal(v["postal_code"], c.country), "CountryCode": v["country"],
        "Email": v["email"], "Phone": names.local_phone(v["phone"]),
    }


def _accounting_row(record_id: str, v: dict, c: TrueCompany) -> dict:
    return {
        "customer_no": record_id, "company_name": v["name"], "ico": v["company_id"],
        "dic": v["vat_id"], "street": v["street"], "city": v["city"], "zip": v["postal_code"],
        "country": v["country"], "email": v["email"], "phone": v["phone"], "iban": v["iban"],
        "payment_terms_days": v["payment_terms_days"], "credit_limit": v["credit_limit"],
    }


def _erp_partner(record_id: str, v: dict) -> dict:
    return {
        "PARTNER_ID": record_id, "NAZEV": v["name"], "ICO": v["company_id"] or "",
        "DIC": v["vat_id"] or "", "ULICE": v["street"], "MESTO": v["city"],
        "PSC": names.spaced_postal(v["postal_code"], v["country"]), "ZEME": v["country"],
        "EMAIL": v["email"], "TELEFON": names.local_phone(v["phone"]),
        "SPLATNOST_DNI": v["payment_terms_days"], "UVEROVY_LIMIT": v["credit_limit"],
    }


def new_company(rng: random.Random, number: int, taken: set[str]) -> TrueCompany:
    """A company none of the systems knows yet (a new customer), its IČO and VAT ID unlike any
    in ``taken``, which it joins; its key is ``N<number>``."""
    company = _unique_companies(rng, 1, Options(), taken)[0]
    return replace(company, key=f"N{number:06d}")


def system_row(system: str, record_id: str, company: TrueCompany) -> dict:
    """The row ``system`` holds for ``company``, without drift, in that system's columns."""
    values = _true_values(company)
    if system == "crm":
        return _crm_account(record_id, values, company)
    return (_accounting_row(record_id, values, company) if system == "accounting"
            else _erp_partner(record_id, values))


def _add_broken_records(rng: random.Random, estate: Estate) -> None:
    """A few records no mapping can accept: each must be quarantined, never lost."""
    bad_ico = names.czech_ico(rng)[:-1] + "0"
    bad_ico = bad_ico if not names.valid_ico(bad_ico) else bad_ico[:-1] + "1"
    estate.crm_accounts.append({
        "AccountId": "CRM-BROKEN-1", "Name": "Neplatné IČO s.r.o.", "CompanyId": bad_ico,
        "VatId": "", "Street": "Dlouhá 1", "City": "Praha", "PostalCode": "110 00",
        "CountryCode": "CZ", "Email": "x@example.cz", "Phone": "+420 600 000 000"})
    estate.truth.broken[("crm", "CRM-BROKEN-1")] = "invalid IČO checksum"
    row = dict(estate.accounting_rows[0], customer_no="ACC-BROKEN-1", ico=None, dic=None,
               iban="CZ00 0000 0000 0000 0000 0000", company_name="Bez identifikace s.r.o.")
    estate.accounting_rows.append(row)
    estate.truth.broken[("accounting", "ACC-BROKEN-1")] = "invalid IBAN, no identifier"


def strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# How hard an estate is, counted in its ground truth: pairs of records of different companies
# that a matcher could mistake for one (the bench and the tests report these figures).
_FORMS_FOLDED = sorted(["spol s r o", "s r o", "sro", "a s", "akciova spolecnost", "v o s",
                        "verejna obchodni spolecnost", "k s", "komanditni spolecnost", "gmbh",
                        "sp z o o"], key=len, reverse=True)
_FORM_TAIL = re.compile(r"(?:^|\s)(?:" + "|".join(re.escape(f) for f in _FORMS_FOLDED) + r")$")
_SYSTEM_COLUMNS = {  # system -> (rows, record id, name, street, city, IČO, VAT ID)
    "crm": ("crm_accounts", "AccountId", "Name", "Street", "City", "CompanyId", "VatId"),
    "accounting": ("accounting_rows", "customer_no", "company_name", "street", "city", "ico", "dic"),
    "erp": ("erp_partners", "PARTNER_ID", "NAZEV", "ULICE", "MESTO", "ICO", "DIC"),
}


@dataclass(frozen=True)
class HardCases:
    """Pairs of records of two different companies, as the systems hold them.

    ``same_address``: the same street (with number) and city. ``same_address_similar_name``:
    of those, names alike (Jaro-Winkler ≥ ``threshold`` without legal form, case or
    diacritics). ``same_city_similar_name``: names alike in one city, any street.
    ``..._without_ids``: of the similar-name pairs, those where a record carries neither IČO
    nor VAT ID, so that no key can keep the two companies apart.
    """

    records: int
    same_address: int
    same_address_similar_name: int
    same_address_similar_name_without_ids: int
    same_city_similar_name: int
    same_city_similar_name_without_ids: int


def fold_name(name: str) -> str:
    """Lower case, no diacritics, punctuation as spaces, no trailing legal form."""
    folded = re.sub(r"[^a-z0-9]+", " ", strip_diacritics(name).lower()).strip()
    stripped = _FORM_TAIL.sub("", folded).strip()
    return stripped or folded


def hard_cases(estate: Estate, threshold: float = 0.9) -> HardCases:
    """Count the estate's hard negatives in its ground truth (records of broken rows left out)."""
    from rapidfuzz import process
    from rapidfuzz.distance import JaroWinkler

    rows: list[tuple[str, str, str, str, bool]] = []  # entity, name, street, city, without IDs
    for system, (attribute, rid, name, street, city, ico, vat) in _SYSTEM_COLUMNS.items():
        for r in getattr(estate, attribute):
            entity = estate.truth.records.get((system, str(r[rid])))
            if entity is None:
                continue
            rows.append((entity, fold_name(str(r[name] or "")), fold_name(str(r[street] or "")),
                         fold_name(str(r[city] or "")), not (r[ico] or r[vat])))
    by_city: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_city.setdefault(row[3], []).append(i)
    address = address_alike = address_alike_open = city_alike = city_alike_open = 0
    for members in by_city.values():
        names_ = [rows[i][1] for i in members]
        for start in range(0, len(members), 1000):
            block = process.cdist(names_[start:start + 1000], names_, scorer=JaroWinkler.normalized_similarity,
                                  score_cutoff=threshold, workers=-1)
            for a, b in zip(*block.nonzero(), strict=True):
                i, j = members[start + int(a)], members[int(b)]
                if i >= j or rows[i][0] == rows[j][0]:
                    continue
                open_ = rows[i][4] or rows[j][4]
                city_alike += 1
                city_alike_open += open_
                if rows[i][2] == rows[j][2]:
                    address_alike += 1
                    address_alike_open += open_
        streets: dict[str, dict[str, int]] = {}
        for i in members:
            per_entity = streets.setdefault(rows[i][2], {})
            per_entity[rows[i][0]] = per_entity.get(rows[i][0], 0) + 1
        for per_entity in streets.values():
            total = sum(per_entity.values())
            address += (total * (total - 1) - sum(k * (k - 1) for k in per_entity.values())) // 2
    return HardCases(len(rows), address, address_alike, address_alike_open, city_alike, city_alike_open)
