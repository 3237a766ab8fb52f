"""Half-written export files: row counts in control files, markers written too early, writers
that pause, files that grow after they were read; over the sandbox server and a real sshd."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from tenacity import Retrying, stop_after_attempt, wait_none

from connectors.base import Page
from connectors.errors import FileRefusedError
from connectors.files.csv_format import FileFormat
from connectors.sftp.files import SftpFilesConnector
from core.connections import ConnectionInfo

pytestmark = pytest.mark.integration

ERP = FileFormat(encoding="cp1250", delimiter=";")
FAST = Retrying(stop=stop_after_attempt(3), wait=wait_none(), reraise=True)
HEADER = "PARTNER_ID;NAZEV;UVEROVY_LIMIT\r\n"
NAME = "customers-20260101.csv"


def _rows(first: int, last: int) -> str:
    return "".join(f"P{n};Dvořák {n} s.r.o.;{n},50\r\n" for n in range(first, last))


def _connector(conn: ConnectionInfo, prefix: str = "", **settings: object) -> SftpFilesConnector:
    dirs = {f"{d}_dir": f"{prefix}/{d}" if prefix else d
            for d in ("export", "import", "archive", "error")}
    config = SftpFilesConnector.Settings(id_column="PARTNER_ID", timeout_seconds=5,
                                         **dirs, **settings)  # type: ignore[arg-type]
    return SftpFilesConnector("erp", config, conn, file_format=ERP, retry_policy=FAST)


def _export(folder: Path, text: str, control: str | None = "", suffix: str = ".done") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME
    path.write_bytes(text.encode("cp1250"))
    if control is not None:
        (folder / f"{NAME}{suffix}").write_text(control)
    return path


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _read_refused(connector: SftpFilesConnector, match: str) -> list[Page]:
    pages: list[Page] = []
    with pytest.raises(FileRefusedError, match=match) as caught:
        for page in connector.read_pages(None):
            pages.append(page)
            connector.acknowledge(page)
    assert caught.value.kind == "data" and "\n" not in caught.value.one_line()
    return pages


# -- row counts ---------------------------------------------------------------------------------
def test_a_file_cut_at_a_row_boundary_is_refused_by_its_markers_row_count(sandbox_sftp) -> None:
    root = sandbox_sftp.files_root
    _export(root / "export", HEADER + _rows(0, 81), control="rows 100\n")  # 19 rows short
    connector = _connector(sandbox_sftp.connection())
    [page] = _read_refused(connector, "it has 81 data row.s., its control file announces 100")
    assert page.records == [] and not connector.complete_export(page)
    assert _names(root / "error") == [NAME, f"{NAME}.done", f"{NAME}.reason.txt"]

    _export(root / "export", HEADER + _rows(0, 100), control="rows 100\n")
    [whole] = list(connector.read_pages(None))
    assert len(whole.records) == 100 and connector.complete_export(whole)


def test_a_manifest_may_carry_a_row_count_and_sha256sum_still_reads_it(sandbox_sftp) -> None:
    root = sandbox_sftp.files_root
    data = (HEADER + _rows(0, 81)).encode("cp1250")
    manifest = f"{hashlib.sha256(data).hexdigest()}  {NAME}\nrows 100\n"
    _export(root / "export", HEADER + _rows(0, 81), control=manifest, suffix=".sha256")
    checked = subprocess.run(["sha256sum", "-c", f"{NAME}.sha256"], cwd=root / "export",
                             capture_output=True, text=True)
    assert checked.returncode == 0 and f"{NAME}: OK" in checked.stdout  # the checksum is fine

    connector = _connector(sandbox_sftp.connection(), ready="manifest")
    _read_refused(connector, "its control file announces 100")  # the row count is not
    _export(root / "export", HEADER + _rows(0, 2), control="0" * 64 + "\nrows many\n",
            suffix=".sha256")
    _read_refused(connector, "row count is unreadable")


# -- markers written too early, files that grow -------------------------------------------------
def test_a_done_marker_older_than_its_file_is_not_taken(sandbox_sftp) -> None:
    path = _export(sandbox_sftp.files_root / "export", HEADER + _rows(0, 5))
    marker = path.with_name(f"{NAME}.done")
    os.utime(marker, (time.time() - 60, time.time() - 60))  # the writer went on after it
    connector = _connector(sandbox_sftp.connection())
    assert list(connector.read_pages(None)) == []
    marker.write_text("")  # announced again, after the last write
    [page] = list(connector.read_pages(None))
    assert len(page.records) == 5


def _grow(path: Path, stop: threading.Event, marker: Path | None = None) -> None:
    n = 0
    while not stop.is_set():
        with open(path, "ab") as f:
            f.write(f"X{n};Firma;1\r\n".encode())
        if marker is not None:
            marker.write_text("")  # a writer that keeps re-announcing its file
        n += 1
        time.sleep(0.01)


def test_a_file_that_changes_between_listing_and_download_is_left_for_later(sandbox_sftp) -> None:
    path = _export(sandbox_sftp.files_root / "export", HEADER + _rows(0, 5))
    stop = threading.Event()
    writer = threading.Thread(target=_grow, args=(path, stop, path.with_name(f"{NAME}.done")))
    writer.start()
    try:
        assert list(_connector(sandbox_sftp.connection()).read_pages(None)) == []
    finally:
        stop.set()
        writer.join()
    assert path.exists()
    [page] = list(_connector(sandbox_sftp.connection()).read_pages(None))
    assert len(page.records) > 5


def _grown_after_read(conn: ConnectionInfo, local: Path, prefix: str = "") -> None:
    """The file is read whole-looking, then its writer resumes: no deletions from it, it
    stays in export/, and the next read takes the finished file."""
    path = _export(local / "export", HEADER + _rows(0, 6), control=None)
    connector = _connector(conn, prefix, ready="stable_size", stable_seconds=0.2)
    [half] = list(connector.read_pages(None))
    assert len(half.records) == 6
    with open(path, "ab") as f:  # the writer had only paused
        f.write(_rows(6, 100).encode("cp1250"))
    assert not connector.complete_export(half)
    connector.acknowledge(half)
    assert _names(local / "export") == [NAME] and _names(local / "archive") == []

    [whole] = list(connector.read_pages(None))
    assert len(whole.records) == 100 and connector.complete_export(whole)
    connector.acknowledge(whole)
    assert _names(local / "archive") == [NAME]


def test_a_file_that_grows_after_it_was_read_is_not_used_for_deletions(sandbox_sftp) -> None:
    _grown_after_read(sandbox_sftp.connection(), sandbox_sftp.files_root)


def test_a_file_that_grows_after_it_was_read_over_openssh(sshd) -> None:
    prefix, local = sshd.new_area()
    _grown_after_read(sshd.connection(), local, prefix)


# -- stable size ------------------------------------------------------------------------------
def test_stable_size_waits_out_a_writer_that_pauses(sandbox_sftp) -> None:
    assert SftpFilesConnector.Settings(id_column="ID").stable_seconds == 60  # not 2 s
    path = _export(sandbox_sftp.files_root / "export", HEADER + _rows(0, 50), control=None)

    def finish() -> None:
        time.sleep(1.0)  # a writer pausing for a second, then writing the rest
        with open(path, "ab") as f:
            f.write(_rows(50, 100).encode("cp1250"))

    writer = threading.Thread(target=finish)
    writer.start()
    try:
        connector = _connector(sandbox_sftp.connection(), ready="stable_size", stable_seconds=2)
        assert list(connector.read_pages(None)) == []  # the window saw it change
    finally:
        writer.join()
    [page] = list(connector.read_pages(None))
    assert len(page.records) == 100


def test_openssh_refuses_a_short_file_by_its_row_count(sshd) -> None:
    prefix, local = sshd.new_area()
    _export(local / "export", HEADER + _rows(0, 81), control="rows 100\n")
    _read_refused(_connector(sshd.connection(), prefix), "its control file announces 100")
    assert _names(local / "error") == [NAME, f"{NAME}.done", f"{NAME}.reason.txt"]
