"""The sandbox ARES on the wire and the ``ares_subject`` builder."""

from __future__ import annotations

import pytest
import requests

from sandbox.ares_service import ares_subject

pytestmark = pytest.mark.integration

# Top-level and sidlo keys of the real sample ekonomicke-subjekty-27074358.json.
REAL_KEYS = {"ico", "obchodniJmeno", "sidlo", "pravniForma", "financniUrad", "datumVzniku",
             "datumAktualizace", "dic", "icoId", "adresaDorucovaci", "seznamRegistraci",
             "primarniZdroj", "czNace", "subRegistrSzr", "datumZaniku"}
REAL_SIDLO_KEYS = {"kodStatu", "nazevStatu", "kodKraje", "nazevKraje", "kodObce", "nazevObce",
                   "nazevUlice", "cisloDomovni", "cisloOrientacni", "cisloOrientacniPismeno",
                   "kodCastiObce", "nazevCastiObce", "psc", "textovaAdresa", "typCisloDomovni",
                   "standardizaceAdresy", "kodAdresnihoMista"}


def test_builder_gives_the_v3_shape():
    subject = ares_subject("27074358", "Asseco Central Europe, a.s.", "121", "Budějovická", 778,
                           "3a", "Praha 4", "140 00", dic="CZ27074358")
    assert set(subject) <= REAL_KEYS and set(subject["sidlo"]) <= REAL_SIDLO_KEYS
    sidlo = subject["sidlo"]
    assert (sidlo["psc"], sidlo["cisloOrientacni"]) == (14000, 3)
    assert sidlo["cisloOrientacniPismeno"] == "a"
    assert sidlo["textovaAdresa"] == "Budějovická 778/3a, 14000 Praha 4"
    assert subject["pravniForma"] == "121" and subject["primarniZdroj"] == "vr"
    assert "datumZaniku" not in subject
    assert subject == ares_subject("27074358", "Asseco Central Europe, a.s.", "121", "Budějovická",
                                   778, "3a", "Praha 4", "140 00", dic="CZ27074358")


def test_builder_dissolved_without_street_or_dic():
    subject = ares_subject("1603094", "Zaniklá s.r.o.", "112", None, 35, None, "Cítov", "27704",
                           dissolved_on="2023-06-30")
    assert subject["ico"] == "01603094" and subject["datumZaniku"] == "2023-06-30"
    assert subject["sidlo"]["textovaAdresa"] == "Cítov 35, 27704 Cítov"
    assert "dic" not in subject and subject["seznamRegistraci"]["stavZdrojeDph"] == "NEEXISTUJICI"


@pytest.mark.parametrize(("ico", "status", "kod"), [
    ("27074358", 200, None), ("25596641", 404, "NENALEZENO"), ("1603094", 400, "CHYBA_VSTUPU"),
])
def test_answers(ares_service, ico, status, kod):
    response = requests.get(f"{ares_service.url}/ekonomicke-subjekty/{ico}", timeout=5)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json().get("kod") == kod


def test_bulk_search_answers_the_listed_subjects(ares_service):
    url = f"{ares_service.url}/ekonomicke-subjekty/vyhledat"
    body = {"ico": ["27074358", "25596641", "01603094"], "start": 0, "pocet": 10}
    page = requests.post(url, json=body, timeout=5).json()
    assert page["pocetCelkem"] == 2  # 25596641 has no subject: it is not listed
    assert [s["ico"] for s in page["ekonomickeSubjekty"]] == ["01603094", "27074358"]
    second = requests.post(url, json={**body, "start": 1, "pocet": 1}, timeout=5).json()
    assert [s["ico"] for s in second["ekonomickeSubjekty"]] == ["27074358"]


@pytest.mark.parametrize("icos", [["1603094"], ["27074358", "12a"]])
def test_bulk_search_refuses_an_ico_that_is_not_8_digits(ares_service, icos):
    response = requests.post(f"{ares_service.url}/ekonomicke-subjekty/vyhledat",
                             json={"ico": icos}, timeout=5)
    assert (response.status_code, response.json()["kod"]) == (400, "CHYBA_VSTUPU")
