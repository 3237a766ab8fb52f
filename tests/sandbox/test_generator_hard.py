"""The generator's hard mode: sister companies a matcher must keep apart, true matches that
drift, counted in the ground truth (``hard_cases``), deterministic by seed and by chunk."""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox.generator import (
    Estate,
    GroundTruth,
    Options,
    fold_name,
    generate,
    generate_chunks,
    hard_cases,
)

HARD = Options(hard_negatives=0.1, without_ids=0.3, varied_names=True)


@pytest.fixture(scope="module")
def hard_estate() -> Estate:
    return generate(2000, seed=5, options=HARD)


def _crm(record_id: str, name: str, street: str, city: str, ico: str = "") -> dict:
    return {"AccountId": record_id, "Name": name, "Street": street, "City": city, "CompanyId": ico, "VatId": ""}


def test_hard_cases_counts_cross_company_pairs_at_one_address_and_with_alike_names() -> None:
    estate = Estate(crm_accounts=[
        _crm("1", "Novák Stavby s.r.o.", "Husova 5", "Brno"),
        _crm("2", "Novák Stavby Morava spol. s r.o.", "Husova 5", "Brno", ico="25596641"),
        _crm("3", "NOVAK STAVBY S.R.O.", "Husova 5", "Brno"),  # the same company as 1
        _crm("4", "Pekárna Zlín a.s.", "Husova 5", "Brno", ico="27074358"),
        _crm("5", "Novák Stavby 2 s.r.o.", "Palackého 1", "Brno", ico="45274649"),
        _crm("6", "Novák Stavby s.r.o.", "Husova 5", "Zlín", ico="63078236"),
    ], truth=GroundTruth(records={("crm", str(i)): f"T{i}" for i in range(1, 7)} | {("crm", "3"): "T1"}))
    counts = hard_cases(estate)
    assert counts.records == 6
    # Husova 5, Brno: records 1, 2, 3, 4 of companies T1 (twice), T2, T4: 6 pairs, 1 of them T1's own.
    assert counts.same_address == 5
    # Alike names there: 1-2 and 3-2 ("novak stavby" / "novak stavby morava"), not the bakery.
    assert counts.same_address_similar_name == 2
    assert counts.same_address_similar_name_without_ids == 2  # 1 and 3 carry no IČO
    # In Brno, any street: 1-2, 3-2, 1-5, 3-5, 2-5; Zlín's namesake is in another city.
    assert counts.same_city_similar_name == 5
    assert counts.same_city_similar_name_without_ids == 4


def test_fold_name_drops_case_diacritics_and_any_spelling_of_the_legal_form() -> None:
    assert {fold_name(n) for n in ["Novák Stavby s.r.o.", "NOVAK STAVBY SPOL. S R.O.", "Novák Stavby s. r. o."]} \
        == {"novak stavby"}
    assert fold_name("Alfa Trade akciová společnost") == fold_name("Alfa Trade a.s.") == "alfa trade"


def test_the_hard_estate_has_sister_companies_at_one_address_many_without_ids(hard_estate: Estate) -> None:
    counts = hard_cases(hard_estate)
    easy = hard_cases(generate(2000, seed=5, options=Options(without_ids=0.3, varied_names=True)))
    # 2000 companies, 10 % twins, 60 % of those sisters in one building (3 records each side).
    assert counts.same_address_similar_name >= 300, counts
    assert counts.same_address_similar_name_without_ids >= counts.same_address_similar_name // 3, counts
    assert counts.same_address >= counts.same_address_similar_name
    assert counts.same_city_similar_name > counts.same_address_similar_name
    assert easy.same_address_similar_name < counts.same_address_similar_name // 10, easy


def test_sisters_share_the_building_and_differ_by_a_word_or_a_suffix(hard_estate: Estate) -> None:
    truth = hard_estate.truth.companies.values()
    by_address = Counter((c.street, c.city) for c in truth)
    shared = [c for c in truth if by_address[(c.street, c.city)] > 1]
    assert len(shared) >= 150
    pairs = {}
    for c in shared:
        pairs.setdefault((c.street, c.city), []).append(c)
    one_word, phones, domains = 0, 0, 0
    for group in pairs.values():
        a, b = group[0], group[1]
        words_a, words_b = set(fold_name(a.name).split()), set(fold_name(b.name).split())
        assert a.company_id != b.company_id or a.company_id is None
        one_word += len(words_a ^ words_b) <= 2 and bool(words_a & words_b)
        phones += a.phone == b.phone
        domains += a.email.split("@")[1] == b.email.split("@")[1]
    assert one_word >= 0.8 * len(pairs)
    assert 0.3 * len(pairs) <= phones <= 0.9 * len(pairs)
    assert 0.15 * len(pairs) <= domains <= 0.8 * len(pairs)


def test_true_matches_drift_in_name_address_and_contacts(hard_estate: Estate) -> None:
    truth = hard_estate.truth
    crm = {truth.records[("crm", r["AccountId"])]: r for r in hard_estate.crm_accounts
           if ("crm", r["AccountId"]) in truth.records}
    erp = {truth.records[("erp", r["PARTNER_ID"])]: r for r in hard_estate.erp_partners}
    both = [k for k in erp if k in crm]
    folded_differ = sum(fold_name(crm[k]["Name"]) != fold_name(erp[k]["NAZEV"]) for k in both)
    spelled_differ = sum(crm[k]["Name"] != erp[k]["NAZEV"] for k in both)
    word_order = sum(sorted(fold_name(crm[k]["Name"]).split()) == sorted(fold_name(erp[k]["NAZEV"]).split())
                     and fold_name(crm[k]["Name"]) != fold_name(erp[k]["NAZEV"]) for k in both)
    assert spelled_differ > 0.4 * len(both)  # diacritics, legal form, case: folding undoes these
    assert 0.1 * len(both) < folded_differ < 0.5 * len(both)  # typos, short names, word order
    assert word_order > 0.02 * len(both)
    assert sum(r["EMAIL"] is None for r in erp.values()) > 0.05 * len(erp)
    assert sum(r["ULICE"] != crm[k]["Street"] for k, r in erp.items() if k in crm) > 0.1 * len(both)
    assert len({len(r["TELEFON"].replace(" ", "")) == len(r["TELEFON"]) for r in erp.values() if r["TELEFON"]}) == 2
    no_ids = sum(not r["ICO"] and not r["DIC"] for r in erp.values())
    assert 0.2 * len(erp) < no_ids < 0.4 * len(erp)


def test_hard_estates_are_the_same_for_a_seed_whatever_the_chunks() -> None:
    whole = generate(600, seed=9, options=HARD)
    again = generate(600, seed=9, options=HARD)
    assert whole.crm_accounts == again.crm_accounts and whole.erp_partners == again.erp_partners
    parts = list(generate_chunks(600, 200, seed=9, options=HARD))
    assert len(parts) == 3
    ids = [r["AccountId"] for p in parts for r in p.crm_accounts]
    assert len(ids) == len(set(ids)) == 600  # every company is in the CRM, prospects too
    icos = [c.company_id for p in parts for c in p.truth.companies.values() if c.company_id]
    assert len(icos) == len(set(icos))
    again_parts = list(generate_chunks(600, 200, seed=9, options=HARD))
    assert [p.erp_partners for p in parts] == [p.erp_partners for p in again_parts]


def test_the_default_estate_has_no_hard_mode_drift() -> None:
    estate = generate(300, seed=7)
    assert hard_cases(estate).same_address_similar_name == 0
    assert all(r["EMAIL"] for r in estate.erp_partners)
    assert all(r["TELEFON"] for r in estate.erp_partners)
