"""Files that are no export in the spec's format are refused whole, quickly and in bounded memory."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import pytest

from connectors.files import FileFormat, assess
from connectors.files.sniff import first_look, looks_mojibake

ERP = FileFormat(encoding="cp1250", delimiter=";")
UTF8 = FileFormat(encoding="utf-8", delimiter=";")
HEADER = "PARTNER_ID;NAZEV;MESTO\r\n"
NAMES = ["Dvořák a syn s.r.o.", "Šťastný Žák v.o.s.", "Účetní kancelář Říha", "Alfa a.s."]
MB = 2**20


def _rows(count: int) -> str:
    return HEADER + "".join(f"P{n};{NAMES[n % 4]};Ústí nad Labem\r\n" for n in range(count))


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "customers.csv"
    path.write_bytes(data)
    return path


def _assess(path: Path, fmt: FileFormat = ERP):  # type: ignore[no-untyped-def]
    return assess(path, fmt, "PARTNER_ID", source_name="export/customers.csv", max_bad_share=0.1)


def test_utf8_bytes_where_the_spec_says_cp1250_are_refused_before_any_row(tmp_path: Path) -> None:
    path = _file(tmp_path, _rows(200).encode("utf-8"))
    verdict = _assess(path)
    assert verdict.refusal is not None and "the file is UTF-8" in verdict.refusal
    assert "spec says cp1250" in verdict.refusal and verdict.records == 0
    assert not verdict.ids_complete


@pytest.mark.parametrize("text", [_rows(200), HEADER + "P1;Alfa;Praha\r\n"])
def test_a_real_cp1250_or_plain_ascii_file_is_taken(tmp_path: Path, text: str) -> None:
    verdict = _assess(_file(tmp_path, text.encode("cp1250")))
    assert verdict.refusal is None and verdict.records == verdict.rows > 0


def test_text_that_was_already_mojibake_is_refused_with_samples(tmp_path: Path) -> None:
    garbled = _rows(50).encode("utf-8").decode("cp1250", "replace")  # "Dvořák" -> "DvoĹ™Ăˇk"
    verdict = _assess(_file(tmp_path, garbled.encode("utf-8")), UTF8)
    assert verdict.refusal is not None
    assert re.match(r"(3\d|4\d|50) of 50 rows with accented text read as mojibake", verdict.refusal)
    assert "export/customers.csv:2: mojibake 'P0 DvoĹ™Ăˇk" in verdict.refusal


def test_one_odd_name_in_a_good_file_is_no_reason_to_refuse_it(tmp_path: Path) -> None:
    text = _rows(50) + "P99;DvoĹ™Ăˇk;Praha\r\n"
    verdict = _assess(_file(tmp_path, text.encode("utf-8")), UTF8)
    assert verdict.refusal is None and verdict.records == 51
    assert looks_mojibake("DvoĹ™Ăˇk") and not looks_mojibake("Dvořák a syn")


@pytest.mark.parametrize(("data", "reason"), [
    ((b"\0\x89PNG\x01" * (MB // 6 + 1)) * 50, "binary content (NUL bytes)"),
    (b"x;" * (25 * MB), "no line break in the first 64 kB"),
    ((HEADER + "nonsense without columns\r\n" * (2 * MB)).encode(),
     "1000 of the first 1000 rows unreadable"),
], ids=["binary", "one endless line", "lines without structure"])
def test_a_50mb_garbage_file_is_refused_quickly_in_bounded_memory(
        tmp_path: Path, data: bytes, reason: str) -> None:
    path = _file(tmp_path, data)
    assert path.stat().st_size >= 50 * MB
    tracemalloc.start()
    started = time.monotonic()
    try:
        verdict = _assess(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert verdict.refusal is not None and reason in verdict.refusal
    assert time.monotonic() - started < 2.0 and peak < 4 * MB


def test_first_look_passes_xml_to_its_own_parser(tmp_path: Path) -> None:
    xml = '<?xml version="1.0" encoding="utf-8"?><partners/>'.encode()
    assert first_look(_file(tmp_path, xml), FileFormat(type="xml", encoding="cp1250")) is None
