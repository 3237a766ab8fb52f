"""The sandbox ARES (API v3): ``GET /ekonomicke-subjekty-v-be/rest/ekonomicke-subjekty/{ico}``
and the bulk search ``POST .../ekonomicke-subjekty/vyhledat`` by a list of IČO.

Bodies follow /work/shared/external/ares (openapi and samples): a subject is an
``EkonomickySubjekt`` JSON, errors are ``Chyba {kod, popis, subKod}`` with the real wording
(400 CHYBA_VSTUPU, 404 NENALEZENO, 500 OBECNA_CHYBA).

    ares = AresService({"27074358": ares_subject("27074358", "Asseco Central Europe, a.s.", "121",
                                                 "Budějovická", 778, "3a", "Praha 4", "140 00")})
    ares.start()   # base http://127.0.0.1:<port>/ekonomicke-subjekty-v-be/rest

The search takes ``{"ico": [...], "start": 0, "pocet": 100}`` (``EkonomickeSubjektyKomplexFiltr``)
and answers ``EkonomickeSubjektySeznam``: ``pocetCelkem`` (how many match) and the page
``ekonomickeSubjekty``, sorted by IČO, at most ``PAGE_MAX`` (1000) a page as ARES serves them. An
IČO that is not 8 digits fails the whole request with 400 CHYBA_VSTUPU, as the schema's pattern
does; IČOs without a subject are simply not listed. Only the ``ico`` filter is served.

Misbehaviour: ``fail_next("obecna_chyba")`` answers the next request with 500 OBECNA_CHYBA;
``fail_next("http503")`` with a bare 503 page.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from sandbox.soap_server import Request, Response, SandboxService

CHYBA_VSTUPU = {
    "kod": "CHYBA_VSTUPU",
    "popis": "Položka 'ico' : nesplňuje regulární výraz [0-9]{8}|Není vyplněn správný formát IČO."
             " Upravte parametry vyhledávání.|Chyba vstupu",
    "subKod": "VSTUP_NEVALIDNI_FORMAT_ICO",
}
NENALEZENO = {
    "kod": "NENALEZENO",
    "popis": "Nebyl nalezen žádný subjekt, který by odpovídal zadaným hodnotám. Upravte parametry"
             " vyhledávání.|Záznam nenalezen",
    "subKod": "VYSTUP_SUBJEKT_NENALEZEN",
}
OBECNA_CHYBA = {"kod": "OBECNA_CHYBA", "popis": "Interní chyba serveru|Obecná chyba"}

PAGE_MAX = 1000  # subjects per page of a search
DEFAULT_PAGE = 100  # ``pocet`` not given
NO_FILTER = {"kod": "CHYBA_VSTUPU", "popis": "the sandbox ARES searches by 'ico' only",
             "subKod": "VSTUP_NEPODPOROVANY_FILTR"}

# Legal forms registered in the commercial register (obchodní rejstřík, source "vr").
_VR_FORMS = frozenset({"111", "112", "113", "121", "205", "301", "421", "422"})


def _orientation(value: int | str | None) -> dict[str, Any]:
    """"3a" -> cisloOrientacni 3 + cisloOrientacniPismeno "a", as ARES splits it."""
    match = re.fullmatch(r"(\d+)\s*([a-zA-Z]?)", str(value or ""))
    if not match:
        return {}
    parts: dict[str, Any] = {"cisloOrientacni": int(match[1])}
    if match[2]:
        parts["cisloOrientacniPismeno"] = match[2].lower()
    return parts


def _sidlo(street_name: str | None, house_no: int, orientation_no: int | str | None,
           city: str, postal_code: str | int) -> dict[str, Any]:
    psc = int(re.sub(r"\s", "", str(postal_code)))
    number = f"{house_no}/{orientation_no}" if orientation_no else str(house_no)
    line = f"{street_name or city} {number}"
    sidlo: dict[str, Any] = {"kodStatu": "CZ", "nazevStatu": "Česká republika", "nazevObce": city}
    if street_name:
        sidlo["nazevUlice"] = street_name
    sidlo |= {"cisloDomovni": int(house_no), **_orientation(orientation_no), "psc": psc,
              "textovaAdresa": f"{line}, {psc} {city}", "typCisloDomovni": "1",
              "standardizaceAdresy": True}
    return sidlo


def _registrations(vr: bool, dissolved: bool, vat_payer: bool) -> dict[str, str]:
    state = "HISTORICKY" if dissolved else "AKTIVNI"
    return {"stavZdrojeVr": state if vr else "NEEXISTUJICI", "stavZdrojeRes": state,
            "stavZdrojeRzp": "NEEXISTUJICI" if vr else state,
            "stavZdrojeDph": "AKTIVNI" if vat_payer and not dissolved else "NEEXISTUJICI",
            "stavZdrojeIr": "NEEXISTUJICI"}


def ares_subject(ico: str, name: str, legal_form_code: str, street_name: str | None,
                 house_no: int, orientation_no: int | str | None, city: str,
                 postal_code: str | int, dic: str | None = None,
                 dissolved_on: date | str | None = None, *, founded_on: date | str | None = None,
                 updated_on: date | str | None = None) -> dict[str, Any]:
    """A v3 ``EkonomickySubjekt`` as ARES returns it (see samples/ekonomicke-subjekty-*.json).

    Deterministic: without ``founded_on`` the founding date is derived from the IČO, so the
    data generator gives the same estate every run.
    """
    ico = str(ico).zfill(8)
    vr = str(legal_form_code) in _VR_FORMS
    founded = founded_on or date(1991 + int(ico) % 30, 1 + int(ico) % 12, 1 + int(ico) % 28)
    subject: dict[str, Any] = {
        "ico": ico, "obchodniJmeno": name,
        "sidlo": _sidlo(street_name, house_no, orientation_no, city, postal_code),
        "pravniForma": str(legal_form_code),
        "datumVzniku": str(founded),
        "datumAktualizace": str(updated_on or dissolved_on or "2025-01-31"),
    }
    if dissolved_on:
        subject["datumZaniku"] = str(dissolved_on)
    if dic:
        subject["dic"] = dic
    lines = subject["sidlo"]["textovaAdresa"].split(", ")
    subject |= {"icoId": ico,
                "adresaDorucovaci": {f"radekAdresy{i}": line for i, line in enumerate(lines, 1)},
                "seznamRegistraci": _registrations(vr, bool(dissolved_on), bool(dic)),
                "primarniZdroj": "vr" if vr else "res"}
    return subject


class AresService(SandboxService):
    PATH = "/ekonomicke-subjekty-v-be/rest"
    _SUBJECT = re.compile(PATH + r"/ekonomicke-subjekty/([^/]*)")
    _SEARCH = PATH + "/ekonomicke-subjekty/vyhledat"

    def __init__(self, subjects: dict[str, dict[str, Any]]):
        super().__init__()
        self.subjects = subjects  # keyed by 8-digit IČO; tests may edit it live
        self.page_max = PAGE_MAX  # subjects a search page holds at most (tests lower it)
        self.searches = 0  # bulk search requests answered

    @property
    def url(self) -> str:
        return super().url + self.PATH

    def handle(self, request: Request, mode: str | None) -> Response:
        if request.path == self._SEARCH and request.method == "POST":
            return _json(500, OBECNA_CHYBA) if mode == "obecna_chyba" else self.search(
                request.body)
        match = self._SUBJECT.fullmatch(request.path)
        if match is None:
            return Response(404, b"not found", "text/plain")
        if request.method != "GET":
            return Response(405, b"", "text/plain")
        if mode == "obecna_chyba":
            return _json(500, OBECNA_CHYBA)
        ico = match[1]
        if not re.fullmatch(r"[0-9]{8}", ico):
            return _json(400, CHYBA_VSTUPU)
        subject = self.subjects.get(ico)
        return _json(200, subject) if subject is not None else _json(404, NENALEZENO)


    def search(self, body: bytes) -> Response:
        try:
            query = json.loads(body)
        except ValueError:
            return _json(500, OBECNA_CHYBA)  # ARES answers a body it cannot parse so
        icos = query.get("ico") if isinstance(query, dict) else None
        if not isinstance(icos, list) or not icos:
            return _json(400, NO_FILTER)
        if not all(isinstance(i, str) and re.fullmatch(r"[0-9]{8}", i) for i in icos):
            return _json(400, CHYBA_VSTUPU)
        start, count = _int(query.get("start"), 0), _int(query.get("pocet"), DEFAULT_PAGE)
        if start is None or count is None:
            return _json(400, {**CHYBA_VSTUPU, "popis": "start/pocet: not a number >= 0"})
        matches = [self.subjects[i] for i in sorted(set(icos)) if i in self.subjects]
        self.searches += 1
        page = matches[start:start + min(count, self.page_max)]
        return _json(200, {"pocetCelkem": len(matches), "ekonomickeSubjekty": page})


def _int(value: Any, default: int) -> int | None:
    if value is None:
        return default
    return value if isinstance(value, int) and value >= 0 else None


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, json.dumps(body, ensure_ascii=False).encode("utf-8"),
                    "application/json")
