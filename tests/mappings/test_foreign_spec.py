"""The example spec for a foreign-heavy export maps real-world spellings, both engines alike."""

from __future__ import annotations

import polars as pl
import pytest

from mappings.engine import map_record
from mappings.errors import MappingError
from mappings.frames import map_frame
from mappings.spec import SPECS_DIR, load_spec
from tests.mappings.test_frames import assert_same_as_engine

SPEC = load_spec(SPECS_DIR / "examples" / "foreign_accounting.yaml")
COLUMNS = ("cislo", "nazev", "ico", "dic", "ulice", "mesto", "psc", "stat", "telefon", "ucet", "web")
ROWS = [dict(zip(COLUMNS, row, strict=True)) for row in [
    ("1", "NovĂˇk a syn s.r.o.", None, "CZ25596641", "Školní 531/105", "Praha 4 - Nusle", "140 00",
     "ČR", "602 123 456", "19-2000145399/0800", "https://www.novak.cz/kontakt"),
    ("2", "Müller Logistik GmbH", "Amtsgericht Hamburg, HRB 470634", "DE136695976",
     "Hauptstr. 5a", "Hamburg", "D-20095", "SRN", "040 1234567", "DE89 3704 0044 0532 0130 00",
     "www.mueller-logistik.de"),
    ("3", "Huber Bau GesmbH", "FN446599P", "ATU13585627", "Kirchengasse 3", "Vídeň", "A-1010",
     "Rakousko", None, None, None),
    ("4", "Kowalski Spółka z o.o.", "KRS 0000123456", "PL8567346215", "ul. Długa 12/4", "Krakau",
     "PL-30001", "Polska", None, None, "kowalski.com.pl"),
    ("5", "Nagy és Társa Kft.", "Cg. 01-09-123456", "12892312-2-41", "Fő utca 1", "Budapest XIII",
     "H-1051", "Magyarország", None, None, None),
    ("6", "Gorenje d.o.o.", "5300231", None, "Partizanska 12", "Velenje", "SI-3320", "Slovenija",
     None, None, None),
    ("7", "Tatra Obchod s.r.o.", "35 757 442", "SK2022749619", "Hlavná 5", "Pressburg", "811 01",
     "Slovensko", None, "19-8742637541/1200", None),
    ("8", "Lhota zemědělská a.s.", None, "CZ7103192745", "č.p. 604", "Lhota", "39601", "Tschechei",
     None, None, None),
    ("9", "Schmidt Software UG (haftungsbeschränkt)", "HRB 470634", None, "Berliner Str. 12",
     "Brünn", "D-80331", "Deutschland", None, None, None),  # a DE postal code, a Czech city name
]]


def test_real_world_spellings_become_canonical_values() -> None:
    mapped = {row["cislo"]: map_record(SPEC, row) for row in ROWS if row["cislo"] != "9"}
    assert mapped["1"].legal_name == "Novák a syn s.r.o."
    assert (mapped["1"].company_id, mapped["1"].iban) == ("25596641", "CZ6508000000192000145399")
    assert (mapped["1"].street_name, mapped["1"].house_number, mapped["1"].city) == ("Školní", "531/105", "Praha")
    assert mapped["1"].website == "novak.cz"
    assert [mapped[n].company_key for n in "1278"] == ["CZ:25596641", "DE:HRB470634", "SK:35757442", None]
    assert (mapped["2"].country, mapped["2"].company_id, mapped["2"].postal_code) == ("DE", "HRB470634", "20095")
    assert (mapped["2"].street_name, mapped["2"].house_number) == ("Hauptstraße", "5a")
    assert (mapped["3"].country, mapped["3"].company_id, mapped["3"].city) == ("AT", "FN446599P", "Wien")
    assert (mapped["3"].legal_form, mapped["3"].postal_code) == ("GmbH", "1010")
    assert (mapped["4"].company_id, mapped["4"].postal_code, mapped["4"].legal_form) == (
        "KRS0000123456", "30-001", "Sp. z o.o.")
    assert (mapped["4"].street_name, mapped["4"].city) == ("Długa", "Kraków")
    assert (mapped["5"].vat_id, mapped["5"].company_id, mapped["5"].city) == ("HU12892312", "CG0109123456", "Budapest")
    assert (mapped["6"].country, mapped["6"].company_id, mapped["6"].legal_form) == ("SI", "MS5300231", "d.o.o.")
    assert (mapped["7"].iban, mapped["7"].city) == ("SK3112000000198742637541", "Bratislava")
    assert (mapped["8"].country, mapped["8"].company_id, mapped["8"].house_number) == ("CZ", None, "604")
    with pytest.raises(MappingError, match="a DE postal code"):
        map_record(SPEC, {**ROWS[8], "stat": "Česko"})


def test_both_engines_map_the_example_alike() -> None:
    frame = pl.DataFrame(ROWS, schema=dict.fromkeys(COLUMNS, pl.String))
    assert_same_as_engine(SPEC, ROWS, map_frame(SPEC, frame))


def test_house_numbers_compare_as_the_readme_says() -> None:
    """The README's house_number comparison: folded, one side's numbers within the other's."""
    from mappings.normalizers.street import normalize_house_number
    from reconciliation.matching.comparisons import TokenSet
    from reconciliation.matching.features import Fold

    pairs = [("Školní 531/105", "Školní 105", True), ("č.p. 604", "Lhota 604/125", True),
             ("Hauptstraße 5a", "Hauptstraße 5", False), ("Školní 604", "Školní 605", False)]
    numbers = pl.DataFrame({"left": [normalize_house_number(a) for a, _, _ in pairs],
                            "right": [normalize_house_number(b) for _, b, _ in pairs]})
    folded = numbers.select(Fold().expr(pl.col("left")).alias("left"),
                            Fold().expr(pl.col("right")).alias("right"))
    agrees = TokenSet(1.0).agrees(folded["left"], folded["right"])
    assert agrees.to_list() == [expected for _, _, expected in pairs]


def test_company_key_keeps_a_czech_and_a_slovak_company_with_one_ico_apart() -> None:
    from reconciliation.matching import Linker, MatchSettings
    from tests.reconciliation.settings import frame

    rows = [{**ROWS[6], "cislo": "cz", "nazev": "Dunaj Stavby s.r.o.", "dic": None, "stat": "CZ",
             "mesto": "Praha 4", "psc": "14000", "ucet": None},
            {**ROWS[6], "cislo": "sk", "dic": None}, {**ROWS[6], "cislo": "sk2", "ulice": "Hlavná 5/1"}]
    records = frame([{"system": "x", "record_id": r["cislo"], **map_record(SPEC, r).present()} for r in rows])

    def clusters(keys: list[str]) -> list[int]:
        result = Linker(MatchSettings(keys=keys, exclusive=keys)).link(records)
        return result.clusters.sort("record_id")["cluster"].to_list()  # cz, sk, sk2 in this order

    by_id = clusters(["company_id"])
    assert by_id[0] == by_id[1] == by_id[2]  # the collision: one company made of two
    by_key = clusters(["company_key"])
    assert by_key[0] != by_key[1] == by_key[2]


def test_workers_read_aliases_and_fallbacks_as_one_process_does() -> None:
    """Distinct values past the threshold go to worker processes with their rule (aliases,
    fallback normalizer) pickled along."""
    n = 12_000  # 6,000 distinct values each for the field and for its fallback
    rows = [{**ROWS[i % len(ROWS)], "cislo": str(i), "ico": None if i % 2 else f"{i:07d}1",
             "dic": f"CZ{i:07d}{i % 10}", "telefon": None} for i in range(n)]
    frame = pl.DataFrame(rows, schema=dict.fromkeys(COLUMNS, pl.String))
    serial, parallel = map_frame(SPEC, frame), map_frame(SPEC, frame, workers=2)
    assert serial.records.equals(parallel.records)
    assert serial.quarantined.equals(parallel.quarantined)
    assert serial.records["company_key"].str.starts_with("CZ:").sum() > 100  # fallbacks read
    assert_same_as_engine(SPEC, rows[:300], map_frame(SPEC, frame.head(300)))
