"""The sandbox ISIR: IsirWsCuzkService (getIsirWsCuzkData by IČO) over a loopback socket.

It serves the packaged WSDL and XSD (``?wsdl``, ``?xsd=1``) with only the addresses rewritten, and
answers like the real service: unqualified ``data`` rows in the XSD's order and a ``stav``;
``kodChyby`` WS2 when there is no proceeding, WS1 for an IČO that is not 8 digits. Rows carry an
element the 2019 XSD does not know (``datumPmZahajeniUpadku``), as the live service does today.

    isir = IsirService({"27074358": [isir_proceeding("27074358", "Firma a.s.", "KONKURS")]})
    isir.start()   # http://127.0.0.1:<port>/isir_cuzk_ws/IsirWsCuzkService

Misbehaviour, per IČO: ``{"27074358": {"kodChyby": "SERVER1"}}`` answers that error status,
``{"slow": 0.5}`` answers late. Per request: the ``fail_next`` modes of ``sandbox.soap_server``.
"""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path
from typing import Any

from lxml import etree

from sandbox.soap_server import (
    Response,
    SoapService,
    XmlRejected,
    envelope,
    fault,
    parse_xml,
    rewrite_soap_address,
    soap_body_child,
)

_WSDL_DIR = Path(__file__).resolve().parent.parent / "connectors" / "registries" / "wsdl"
WSDL_FILE = _WSDL_DIR / "IsirWsCuzkService.wsdl"
XSD_FILE = _WSDL_DIR / "IsirWsCuzkService.xsd"
TYPES = "http://isirws.cca.cz/types/"
REMOTE_XSD = b"https://isir.justice.cz:8443/isir_cuzk_ws/IsirWsCuzkService?xsd=1"
# isirWsCuzkData's sequence; anything else in a row is sent after it, as newer ISIR does.
ROW_ORDER = ("ic", "rc", "cisloSenatu", "druhVec", "bcVec", "rocnik", "nazevOrganizace",
             "datumNarozeni", "titulPred", "titulZa", "jmeno", "nazevOsoby", "druhAdresy", "mesto",
             "ulice", "cisloPopisne", "okres", "zeme", "psc", "druhStavKonkursu",
             "urlDetailRizeni", "dalsiDluznikVRizeni")
ERROR_TEXT = {"WS1": "Chybné vstupní parametry", "WS2": "Nebyl nalezen žádný záznam",
              "WS4": "Data nejsou aktuální", "SQL1": "Chyba databáze",
              "SERVER1": "Chyba aplikace"}


def isir_proceeding(ico: str, name: str, state: str, number: int = 1234, year: int = 2024,
                    court: str = "Krajský soud v Praze",
                    since: date | None = None) -> dict[str, Any]:
    """One ISIR row for a company debtor (a natural person's fields are never generated);
    ``since``: the day the insolvency began (1 March of ``year`` when not given)."""
    return {"ic": str(ico).zfill(8), "cisloSenatu": 60, "druhVec": "INS", "bcVec": number,
            "rocnik": year, "nazevOrganizace": court, "nazevOsoby": name, "druhAdresy": "SÍDLO FY",
            "druhStavKonkursu": state, "dalsiDluznikVRizeni": "F",
            "urlDetailRizeni": f"https://isir.justice.cz/isir/ueu/evidence_upadcu_detail.do?"
                               f"id={number}{year}",
            "datumPmZahajeniUpadku": (since or date(year, 3, 1)).isoformat()}


class IsirService(SoapService):
    WSDL_FILE = WSDL_FILE
    PATH = "/isir_cuzk_ws/IsirWsCuzkService"

    def __init__(self, proceedings: dict[str, Any]):
        super().__init__()
        self.proceedings = proceedings  # IČO -> list of rows, or a misbehaviour dict
        self.asked: list[str] = []  # IČOs asked for, in order (to count retries)

    def document(self, query: dict[str, list[str]]) -> bytes | None:
        # The real WSDL imports its XSD over https: serve both, the import pointing here.
        if "xsd" in query:
            return XSD_FILE.read_bytes()
        if "wsdl" in query:
            wsdl = WSDL_FILE.read_bytes().replace(REMOTE_XSD, f"{self.url}?xsd=1".encode())
            return rewrite_soap_address(wsdl, self.url)
        return None

    def answer(self, body: bytes) -> Response:
        try:
            operation = soap_body_child(parse_xml(body))
        except XmlRejected as exc:
            return fault("env:Client", str(exc))
        if etree.QName(operation).localname != "getIsirWsCuzkDataRequest":
            return fault("env:Client", f"unknown operation {operation.tag}")
        ico = (operation.findtext("ic") or operation.findtext(f"{{{TYPES}}}ic") or "").strip()
        self.asked.append(ico)
        if not re.fullmatch(r"[0-9]{8}", ico):
            return _reply([], "WS1")
        found = self.proceedings.get(ico) or []
        if isinstance(found, dict):  # per-number misbehaviour
            time.sleep(float(found.get("slow", 0)))
            return _reply([], found.get("kodChyby"))
        return _reply(found, None if found else "WS2")


def _reply(rows: list[dict[str, Any]], code: str | None) -> Response:
    response = etree.Element(f"{{{TYPES}}}getIsirWsCuzkDataResponse", nsmap={"ns2": TYPES})
    for row in rows:
        data = etree.SubElement(response, "data")
        known = [k for k in ROW_ORDER if k in row] + [k for k in row if k not in ROW_ORDER]
        for key in known:
            etree.SubElement(data, key).text = str(row[key])
    stav = etree.SubElement(response, "stav")
    if rows:
        etree.SubElement(stav, "pocetVysledku").text = str(len(rows))
        etree.SubElement(stav, "relevanceVysledku").text = "1"
    etree.SubElement(stav, "casSynchronizace").text = "2026-01-15T06:00:00.000+01:00"
    if code:
        etree.SubElement(stav, "kodChyby").text = code
        etree.SubElement(stav, "textChyby").text = ERROR_TEXT.get(code, code)
    return Response(200, envelope(response))
