"""extract() over ERP export files as measured in issue 12: a UTF-8 file where the spec says
cp1250, a file cut at a row boundary, a 50 MB garbage file, a source that shrinks at once,
and a good export after a bad one; the sandbox ERP and SFTP server, a real hub store."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.errors import FileRefusedError
from hub.pipeline.context import RunContext
from hub.pipeline.extract import extract
from hub.store.models import FileLedger, ReviewItem, SourceRecord
from sandbox.erp_system import ErpSystem
from tests.hub.pipeline.test_extract import NewRun, erp_runs

pytestmark = pytest.mark.integration


@pytest.fixture
def erp(tmp_path: Path, sandbox_sftp, monkeypatch: pytest.MonkeyPatch) -> NewRun:  # type: ignore[no-untyped-def]
    return erp_runs(tmp_path, sandbox_sftp, monkeypatch, page_size=50, timeout_seconds=10)


@pytest.fixture
def erp_system(tmp_path: Path, sandbox_sftp) -> ErpSystem:  # type: ignore[no-untyped-def]
    return ErpSystem(tmp_path / "erp.json", sandbox_sftp.files_root)


def _partners(count: int, name: str = "Dvořák") -> list[dict]:
    return [{"PARTNER_ID": f"P{n:03}", "NAZEV": f"{name} {n} s.r.o.", "MESTO": "Ústí nad Labem",
             "ZEME": "CZ", "SPLATNOST_DNI": 14, "UVEROVY_LIMIT": "100,00"} for n in range(count)]


def _records(ctx: RunContext) -> dict[str, SourceRecord]:
    with Session(ctx.engine) as s:
        return {r.record_id: r for r in s.scalars(select(SourceRecord))}


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _refused(run: RunContext, match: str) -> FileRefusedError:
    with pytest.raises(FileRefusedError, match=match) as caught:
        extract(run, "erp")
    assert caught.value.kind == "data" and caught.value.system == "erp"
    assert "\n" not in str(caught.value)
    return caught.value


def test_utf8_where_the_spec_says_cp1250_is_refused_and_a_later_good_export_applies(
        erp: NewRun, erp_system: ErpSystem, sandbox_sftp) -> None:  # type: ignore[no-untyped-def]
    root = sandbox_sftp.files_root
    erp_system.load(_partners(200))
    good = erp_system.export(date(2026, 1, 1)).read_bytes()
    assert extract(erp(), "erp")["new"] == 200

    bad = erp_system.export(date(2026, 1, 2))  # the same partners, written as UTF-8
    bad.write_bytes(good.decode("cp1250").encode("utf-8"))
    _refused(erp(), "customers-20260102.csv: the file is UTF-8 .*, the spec says cp1250")
    assert {r.payload["NAZEV"] for r in _records(erp()).values()} == {
        f"Dvořák {n} s.r.o." for n in range(200)}  # nothing staged
    assert "customers-20260102.csv.reason.txt" in _names(root / "error")

    first_again = erp_system.export(date(2026, 1, 3))  # the next good export: as the first
    assert first_again.read_bytes() == good
    counts = extract(erp(), "erp")
    assert (counts["extracted"], counts["unchanged"]) == (200, 200)
    assert "files_already_applied" not in counts

    erp_system.load(_partners(200, name="Novák"))  # a different export applies
    erp_system.export(date(2026, 1, 4))
    assert extract(erp(), "erp")["changed"] == 200
    again = erp_system.export(date(2026, 1, 5))  # byte for byte the first export again
    again.write_bytes(good)
    counts = extract(erp(), "erp")
    assert counts["changed"] == 200 and "files_already_applied" not in counts
    assert _records(erp())["P007"].payload["NAZEV"] == "Dvořák 7 s.r.o."

    (root / "export" / again.name).write_bytes(good)  # the same file delivered twice
    (root / "export" / f"{again.name}.done").write_text("rows 200\n")
    assert extract(erp(), "erp") == {"files_already_applied": 1}
    with Session(erp().engine) as s:
        assert sorted(f.source_name for f in s.scalars(select(FileLedger))) == [
            "customers-20260104.csv", "customers-20260105.csv"]  # by hash; no refused file


def test_a_file_cut_at_a_row_boundary_deletes_nothing(erp: NewRun, erp_system: ErpSystem,
                                                      sandbox_sftp) -> None:  # type: ignore[no-untyped-def]
    erp_system.load(_partners(200))
    erp_system.export(date(2026, 1, 1))
    extract(erp(), "erp")
    path = erp_system.export(date(2026, 1, 2))
    lines = path.read_bytes().split(b"\r\n")
    path.write_bytes(b"\r\n".join(lines[:-20]) + b"\r\n")  # 19 partners cut off, at a row end
    _refused(erp(), "it has 181 data row.s., its control file announces 200")
    assert all(r.deleted_at is None for r in _records(erp()).values())


def test_a_50mb_garbage_file_is_that_systems_problem_and_refused_quickly(
        erp: NewRun, erp_system: ErpSystem, sandbox_sftp) -> None:  # type: ignore[no-untyped-def]
    root = sandbox_sftp.files_root
    erp_system.load(_partners(20))
    erp_system.export(date(2026, 1, 1))
    extract(erp(), "erp")
    garbage = root / "export" / "customers-20260102.csv"
    garbage.write_bytes(os.urandom(50 * 2**20))
    (root / "export" / "customers-20260102.csv.done").write_text("")
    started = time.monotonic()
    error = _refused(erp(), "customers-20260102.csv: binary content")
    assert time.monotonic() - started < 30 and len(error.one_line()) < 300
    assert _names(root / "error") == ["customers-20260102.csv", "customers-20260102.csv.done",
                                      "customers-20260102.csv.reason.txt"]
    assert len(_records(erp())) == 20 and _names(root / "export") == []


def test_deletions_past_the_share_are_held_and_the_run_goes_on(
        erp: NewRun, erp_system: ErpSystem) -> None:  # type: ignore[no-untyped-def]
    erp_system.load(_partners(200))
    erp_system.export(date(2026, 1, 1))
    extract(erp(), "erp")
    erp_system.load(_partners(200)[:106])  # a half export that looks complete: 94 gone
    erp_system.export(date(2026, 1, 2))
    counts = extract(erp(), "erp")
    assert counts["deletions_held"] == 94 and counts.get("deleted_at_source", 0) == 0
    assert all(r.deleted_at is None for r in _records(erp()).values())
    with Session(erp().engine) as s:
        [held] = s.scalars(select(ReviewItem)).all()
        assert (held.kind, held.system, held.status) == ("deletions_held", "erp", "open")
        assert held.candidates["count"] == 94 and held.candidates["missing"][0] == "P106"
        assert "94 of 200 live records" in held.reason

    erp_system.load(_partners(200)[:195])  # the real export: 5 partners really gone
    erp_system.export(date(2026, 1, 3))
    assert extract(erp(), "erp")["deleted_at_source"] == 5
    with Session(erp().engine) as s:
        kinds = sorted((i.kind, i.status) for i in s.scalars(select(ReviewItem)))
    assert kinds == [("deleted_at_source", "open")] * 5 + [("deletions_held", "dismissed")]
