"""The Linker: keys first, Fellegi-Sunter for the rest, never across conflicting identifiers."""

from __future__ import annotations

import polars as pl

from reconciliation.matching import Linker, MatchSettings, StewardPairs
from reconciliation.matching.features import with_features
from reconciliation.matching.settings import FeatureSpec
from tests.reconciliation.settings import frame, hub_settings


def _company(system: str, rid: str, **values: str | None) -> dict[str, str | None]:
    base = {"system": system, "record_id": rid, "legal_name": "Stavby Novák s.r.o.", "legal_form": "s.r.o.",
            "street": "Husova 12", "city": "Brno", "postal_code": "60200", "country": "CZ",
            "phone": "+420601111111", "email": "info@stavby-novak.cz"}
    return {**base, **values}


def _clusters(result) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    return {(s, r): c for s, r, c in result.clusters.select("system", "record_id", "cluster").iter_rows()}


def test_a_name_compares_equal_across_legal_form_spellings_diacritics_case_and_word_order() -> None:
    names = pl.DataFrame({"n": ["Dvořák a syn s.r.o.", "DVORAK A SYN SPOL. S R.O.",
                                "Syn a Dvořák, spol. s r. o.", "Dvořák a syn a.s. v likvidaci"]})
    core = FeatureSpec.model_validate({"from": "n", "steps": ["fold", "strip_legal_form", "sort_tokens"]})
    out = with_features(names, {"core": core})["core"].to_list()
    assert out == ["a dvorak syn"] * 4


def test_records_sharing_a_key_are_linked_and_two_valid_ico_never_are() -> None:
    records = frame([
        _company("crm", "1", company_id="25596641", vat_id="CZ25596641"),
        _company("accounting", "2", company_id="25596641"),
        _company("erp", "3", vat_id="CZ25596641"),  # linked through the VAT ID
        # A sister company: same name, address, phone; another IČO. Never the same company.
        _company("erp", "4", company_id="27082440", email="office@stavby-novak.cz"),
        # No key, identical to both: it may join one of them, but it must not chain them together.
        _company("accounting", "5"),
    ])
    clusters = _clusters(Linker(hub_settings(min_pairs_for_em=10_000)).link(records))
    assert clusters[("crm", "1")] == clusters[("accounting", "2")] == clusters[("erp", "3")]
    assert clusters[("erp", "4")] != clusters[("crm", "1")]


def test_a_record_without_identifiers_links_by_name_and_address_but_not_to_a_sister_company() -> None:
    rows = []
    for i in range(40):  # enough keyed companies for the model to learn m and u from
        name, street, phone = f"Firma{i} Tech s.r.o.", f"Ulice{i} {i}", f"+42060{i:07d}"
        email = f"info@firma{i}.cz"
        rows += [_company("crm", f"C{i}", company_id=f"1{i:07d}", legal_name=name, street=street,
                          phone=phone, email=email),
                 _company("accounting", f"A{i}", company_id=f"1{i:07d}", legal_name=name.upper(),
                          street=street, phone=phone, email=email),
                 # the sister at the same address: other name, other e-mail, its own IČO
                 _company("erp", f"S{i}", company_id=f"2{i:07d}", legal_name=f"Firma{i} Tech Holding a.s.",
                          legal_form="a.s.", street=street, phone=phone, email=f"info@holding{i}.cz")]
    rows += [_company("erp", "X", legal_name="FIRMA7 TECH spol. s r.o.", street="Ulice7 7",
                      phone="+420600000007", email="info@firma7.cz")]
    result = Linker(hub_settings()).link(frame(rows))
    clusters = _clusters(result)
    assert clusters[("erp", "X")] == clusters[("crm", "C7")]
    assert all(clusters[("erp", f"S{i}")] != clusters[("crm", f"C{i}")] for i in range(40))


def test_existing_hub_ids_are_kept_and_two_existing_hubs_are_never_joined_by_a_rule() -> None:
    records = frame([
        _company("crm", "1", company_id="25596641", hub_id="H00000001"),
        _company("accounting", "2", vat_id="CZ25596641", hub_id="H00000002"),
        _company("erp", "3", company_id="25596641", vat_id="CZ25596641"),  # new: bridges both
    ])
    result = Linker(hub_settings(min_pairs_for_em=10_000)).link(records)
    hubs = dict(zip(result.clusters["record_id"], result.clusters["hub_id"], strict=True))
    assert hubs["1"] == "H00000001" and hubs["2"] == "H00000002"
    assert hubs["3"] in {"H00000001", "H00000002"}


def test_a_stewards_not_a_match_keeps_records_apart_and_a_match_joins_them() -> None:
    a, b = _company("crm", "1", company_id="25596641"), _company("erp", "2", company_id="25596641")
    c = _company("accounting", "3", legal_name="Úplně jiná firma a.s.", street="Jinde 1", phone=None, email=None)
    linker = Linker(hub_settings(min_pairs_for_em=10_000))
    apart = _clusters(linker.link(frame([a, b, c]), StewardPairs(cannot_link=[(("crm", "1"), ("erp", "2"))])))
    assert apart[("crm", "1")] != apart[("erp", "2")]
    joined = _clusters(linker.link(frame([a, b, c]), StewardPairs(must_link=[(("crm", "1"), ("accounting", "3"))])))
    assert joined[("crm", "1")] == joined[("accounting", "3")]


def test_the_engine_is_generic_rules_as_data_link_people() -> None:
    settings = MatchSettings.model_validate({
        "keys": ["personal_no"],
        "features": {"name": {"from": "full_name", "steps": ["fold", "sort_tokens"]}},
        "blocking": [["birth_date"], ["name"]],
        "comparisons": [
            {"name": "name", "column": "name", "levels": [{"kind": "exact"}, {"kind": "jaro_winkler", "min": 0.9}],
             "m": [0.05, 0.15, 0.8]},
            {"name": "born", "column": "birth_date", "levels": [{"kind": "exact"}, {"kind": "date", "max_days": 31}],
             "m": [0.05, 0.1, 0.85]},
            {"name": "salary", "column": "salary", "levels": [{"kind": "numeric", "max_abs": 100}], "m": [0.3, 0.7]},
        ],
        "training": {"prior": 0.3, "u_sample_pairs": 1000, "min_pairs_for_em": 10_000},
        "thresholds": {"link": 0.95, "review": 0.5},
    })
    people = pl.DataFrame({
        "system": ["hr", "payroll", "payroll", "hr"], "record_id": ["1", "2", "3", "4"],
        "personal_no": [None, None, None, None],
        "full_name": ["Jana Nováková", "NOVAKOVA Jana", "Petr Svoboda", "Petra Svobodová"],
        "birth_date": ["1980-05-01", "1980-05-01", "1975-01-01", "1990-12-31"],
        "salary": ["42000", "42050", "39000", "51000"],
    })
    clusters = _clusters(Linker(settings).link(people))
    assert clusters[("hr", "1")] == clusters[("payroll", "2")]
    assert len({clusters[("payroll", "3")], clusters[("hr", "4")], clusters[("hr", "1")]}) == 3
