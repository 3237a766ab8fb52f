"""The simulated ERP: master data, cp1250 export with marker, import folder."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from tenacity import Retrying, stop_after_attempt, wait_none

from connectors.base import Write
from connectors.sftp.files import SftpFilesConnector
from mappings.engine import load_spec
from sandbox.erp_system import COLUMNS, DECIMAL_COMMA, DELIMITER, ENCODING, ErpSystem, import_errors

PARTNERS = [
    {"PARTNER_ID": "P50001", "NAZEV": "Dvořák a syn s.r.o.", "ICO": "27074358",
     "DIC": "CZ27074358", "ULICE": "Dlouhá 12", "MESTO": "Praha", "PSC": "110 00",
     "ZEME": "CZ", "EMAIL": "info@dvorak.cz", "TELEFON": "602 123 456",
     "SPLATNOST_DNI": 14, "UVEROVY_LIMIT": Decimal("150000.50")},
    {"PARTNER_ID": "P50002", "NAZEV": "Šťastný; Žák v.o.s.", "ICO": "", "DIC": "",
     "ULICE": "Nová 1", "MESTO": "Brno", "PSC": "602 00", "ZEME": "CZ", "EMAIL": "",
     "TELEFON": "", "SPLATNOST_DNI": 30, "UVEROVY_LIMIT": Decimal("0")},
]


@pytest.fixture
def erp(tmp_path: Path) -> ErpSystem:
    system = ErpSystem(tmp_path / "erp.json", tmp_path / "files")
    system.load(PARTNERS)
    return system


def _import(erp: ErpSystem, name: str, text: str) -> Path:
    path = erp.files_root / "import" / name
    path.write_bytes(text.encode("cp1250"))
    return path


def test_load_and_partners_keep_types_and_persist(erp: ErpSystem) -> None:
    again = ErpSystem(erp.state_path, erp.files_root)
    [first, second] = again.partners()
    assert first["UVEROVY_LIMIT"] == Decimal("150000.50") and first["SPLATNOST_DNI"] == 14
    assert second["ICO"] is None and second["NAZEV"] == "Šťastný; Žák v.o.s."
    with pytest.raises(ValueError, match="unknown ERP column"):
        erp.load([{"PARTNER_ID": "X", "FOO": "bar"}])


def test_export_is_cp1250_semicolons_decimal_comma_and_marker(erp: ErpSystem) -> None:
    path = erp.export(date(2026, 1, 31))
    assert path.name == "customers-20260131.csv"
    assert (path.parent / "customers-20260131.csv.done").read_text() == "rows 2\n"
    lines = path.read_bytes().decode("cp1250").split("\r\n")
    assert lines[0] == ";".join(COLUMNS)
    assert lines[1].endswith(";14;150000,50") and "Dvořák" in lines[1]
    assert lines[2].startswith('P50002;"Šťastný; Žák v.o.s.";;;') and lines[2].endswith(";30;0,00")


def test_apply_imports_in_name_order_empty_is_unchanged(erp: ErpSystem) -> None:
    _import(erp, "b.csv", "PARTNER_ID;MESTO;UVEROVY_LIMIT\r\nP50001;Plzeň;\r\n")
    _import(erp, "a.csv", "PARTNER_ID;MESTO;UVEROVY_LIMIT\r\nP50001;Ostrava;2000,5\r\n")
    _import(erp, "c.csv.part", "PARTNER_ID;MESTO\r\nP50001;Kladno\r\n")  # still uploading
    assert erp.apply_imports() == 2
    first = erp.partners()[0]
    assert first["MESTO"] == "Plzeň" and first["UVEROVY_LIMIT"] == Decimal("2000.50")
    assert first["NAZEV"] == "Dvořák a syn s.r.o."
    imports = erp.files_root / "import"
    assert sorted(p.name for p in (imports / "processed").iterdir()) == ["a.csv", "b.csv"]
    assert (imports / "c.csv.part").exists()
    assert erp.apply_imports() == 0  # nothing applied twice


def test_a_file_with_an_unreadable_value_is_not_applied_at_all(erp: ErpSystem) -> None:
    _import(erp, "a.csv", "PARTNER_ID;MESTO;SPLATNOST_DNI\r\nP50001;Ostrava;14\r\n"
                          "P50002;Jihlava;čtrnáct\r\n")
    assert erp.apply_imports() == 0
    assert [p["MESTO"] for p in erp.partners()] == ["Praha", "Brno"]
    assert (erp.files_root / "import" / "error" / "a.csv").exists()
    assert import_errors(erp.files_root) == {
        "a.csv": ["line 3: SPLATNOST_DNI: not a whole number: 'čtrnáct'"]}


def test_the_erp_spec_states_the_format_the_erp_reads() -> None:
    """The sandbox reads by its own constants (an independent implementation); the spec the
    hub writes by must state the same, or every correction would be rejected."""
    fmt = load_spec("erp").format
    assert fmt is not None
    assert (fmt.encoding, fmt.delimiter, fmt.decimal_comma) == (ENCODING, DELIMITER, DECIMAL_COMMA)


@pytest.mark.parametrize("limit", ["150000,50", "150 000,50", "150\xa0000,5", "-20", "0,00"])
def test_the_import_reads_amounts_with_a_decimal_comma(erp: ErpSystem, limit: str) -> None:
    _import(erp, "a.csv", f"PARTNER_ID;UVEROVY_LIMIT\r\nP50002;{limit}\r\n")
    assert erp.apply_imports() == 1
    expected = Decimal(limit.replace(" ", "").replace("\xa0", "").replace(",", "."))
    assert erp.partners()[1]["UVEROVY_LIMIT"] == expected


@pytest.mark.parametrize(("column", "value"), [
    ("UVEROVY_LIMIT", "150000.50"),  # a decimal point: what the hub wrote before issue 11
    ("UVEROVY_LIMIT", "150.000,50"), ("UVEROVY_LIMIT", "1,505"), ("UVEROVY_LIMIT", "1e5"),
    ("SPLATNOST_DNI", "30,0"), ("SPLATNOST_DNI", "3_0"),
])
def test_the_import_rejects_a_number_in_another_spelling(erp: ErpSystem, column: str,
                                                         value: str) -> None:
    _import(erp, "a.csv", f"PARTNER_ID;MESTO;{column}\r\nP50001;Ostrava;14\r\n"
                          f"P50002;Jihlava;{value}\r\n")
    assert erp.apply_imports() == 0
    assert [p["MESTO"] for p in erp.partners()] == ["Praha", "Brno"]  # nothing of the file
    [problem] = import_errors(erp.files_root)["a.csv"]
    assert problem.startswith(f"line 3: {column}: ") and repr(value) in problem


def test_an_unknown_column_or_a_short_row_rejects_the_file(erp: ErpSystem) -> None:
    _import(erp, "a.csv", "PARTNER_ID;LIMIT\r\nP50001;5\r\n")
    _import(erp, "b.csv", "PARTNER_ID;MESTO;PSC\r\nP50001;Ostrava\r\n")
    assert erp.apply_imports() == 0
    errors = import_errors(erp.files_root)
    assert errors["a.csv"] == ["line 1: unknown column(s) ['LIMIT'] or no PARTNER_ID column"]
    assert errors["b.csv"] == ["line 2: not as many cells as the header has columns"]


def test_a_manifest_export_names_the_checksum_and_the_row_count(erp: ErpSystem) -> None:
    path = erp.export(date(2026, 1, 31), manifest=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = path.parent / "customers-20260131.csv.sha256"
    assert manifest.read_text() == f"{digest}  customers-20260131.csv\nrows 2\n"
    assert not (path.parent / "customers-20260131.csv.done").exists()


@pytest.mark.integration
def test_round_trip_erp_export_sftp_read_write_apply(erp: ErpSystem, sandbox_sftp) -> None:
    """ERP export -> connector read -> connector write -> ERP import, all over SFTP."""
    erp = ErpSystem(erp.state_path, sandbox_sftp.files_root)  # the server serves its files
    erp.export(date(2026, 1, 31))
    settings = SftpFilesConnector.Settings(id_column="PARTNER_ID", timeout_seconds=5)
    connector = SftpFilesConnector(
        "erp", settings, sandbox_sftp.connection(),
        file_format=load_spec("erp").format,
        retry_policy=Retrying(stop=stop_after_attempt(2), wait=wait_none(), reraise=True))

    [page] = list(connector.read_pages(None))
    by_id = {r.record_id: r.payload for r in page.records}
    assert by_id["P50001"]["UVEROVY_LIMIT"] == "150000,50" and page.rejects == []
    connector.acknowledge(page)

    writes = [Write("k1", "P50001", {"MESTO": "Ústí nad Labem", "UVEROVY_LIMIT": "99,90"}),
              Write("k2", "P50002", {"ICO": "12345679"})]
    assert connector.write(writes, "batch-1").applied == ["k1", "k2"]
    assert connector.write(writes, "batch-1").applied == ["k1", "k2"]  # a retry
    assert erp.apply_imports() == 2
    first, second = erp.partners()
    assert first["MESTO"] == "Ústí nad Labem" and first["UVEROVY_LIMIT"] == Decimal("99.90")
    assert first["ULICE"] == "Dlouhá 12" and second["ICO"] == "12345679"
    assert second["MESTO"] == "Brno"


def test_an_escaped_text_cell_is_stored_as_the_text_it_stands_for(tmp_path: Path) -> None:
    """The import contract for formula-like text (docs/CONTRACTS.md): one leading apostrophe is dropped."""
    erp = ErpSystem(tmp_path / "erp.json", tmp_path / "files")
    erp.load([{"PARTNER_ID": str(i)} for i in range(1, 5)])
    cells = {"1": "'=HYPERLINK(\"http://x\",\"Klikni\")", "2": "'-ZERO- a.s.", "3": "''+two", "4": "'t Hoen B.V."}
    quoted = {i: '"' + v.replace('"', '""') + '"' for i, v in cells.items()}
    lines = [DELIMITER.join(["PARTNER_ID", "NAZEV"]), *(f"{i}{DELIMITER}{v}" for i, v in quoted.items())]
    (tmp_path / "files" / "import" / "a.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode(ENCODING))
    assert erp.apply_imports() == 4
    assert {p["PARTNER_ID"]: p["NAZEV"] for p in erp.partners()} == {
        "1": "=HYPERLINK(\"http://x\",\"Klikni\")", "2": "-ZERO- a.s.", "3": "'+two", "4": "'t Hoen B.V."}
