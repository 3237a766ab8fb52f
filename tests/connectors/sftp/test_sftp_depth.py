"""SftpFilesConnector in depth: completeness, transfers cut mid-way, refusals, archive clashes,
paging, XML, and no SSH session left behind; over the sandbox server and a real sshd."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import paramiko
import pytest
from tenacity import Retrying, stop_after_attempt, wait_none

from connectors.base import Page, Write
from connectors.errors import FileRefusedError, SecurityError, TransientError
from connectors.files.csv_format import FileFormat, UnreadableFile
from connectors.sftp.files import SftpFilesConnector
from connectors.sftp.imports import keys_tag
from core.connections import ConnectionInfo

pytestmark = pytest.mark.integration

ERP = FileFormat(encoding="cp1250", delimiter=";")
FAST = Retrying(stop=stop_after_attempt(3), wait=wait_none(), reraise=True)
ONCE = Retrying(stop=stop_after_attempt(1), wait=wait_none(), reraise=True)
HEADER = "PARTNER_ID;NAZEV;UVEROVY_LIMIT\r\n"
NAME = "customers-20260101.csv"
OTHER_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"


def _rows(count: int, name: str = "Dvořák a syn s.r.o.") -> str:
    return HEADER + "".join(f"P{n};{name} {n};{n},50\r\n" for n in range(count))


def _connector(conn: ConnectionInfo, prefix: str = "", *, retry: Retrying = FAST,
               fmt: FileFormat = ERP, **settings: object) -> SftpFilesConnector:
    dirs = {f"{d}_dir": f"{prefix}/{d}" if prefix else d
            for d in ("export", "import", "archive", "error")}
    config = SftpFilesConnector.Settings(id_column="PARTNER_ID", timeout_seconds=5,
                                         **dirs, **settings)  # type: ignore[arg-type]
    return SftpFilesConnector("erp", config, conn, file_format=fmt, retry_policy=retry)


def _put(folder: Path, name: str, data: bytes, marker: str | None = ".done") -> bytes:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    if marker is not None:
        (folder / f"{name}{marker}").write_bytes(b"")
    return data


def _refused(connector: SftpFilesConnector, match: str) -> list[Page]:
    """Every page read, the refused file's included; reading ends in FileRefusedError."""
    pages: list[Page] = []
    with pytest.raises(FileRefusedError, match=match) as caught:
        pages.extend(connector.read_pages(None))
    assert caught.value.kind == "data" and "\n" not in caught.value.one_line()
    return pages


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- completeness -----------------------------------------------------------------------------
def test_manifest_mode_takes_only_files_whose_checksum_matches(sandbox_sftp) -> None:
    root = sandbox_sftp.files_root
    good = _put(root / "export", "customers-20260101.csv", _rows(2).encode("cp1250"), None)
    (root / "export" / "customers-20260101.csv.sha256").write_text(
        f"{hashlib.sha256(good).hexdigest()}  customers-20260101.csv\n")
    _put(root / "export", "customers-20260102.csv", _rows(3).encode("cp1250"), None)  # no manifest
    _put(root / "export", "customers-20260103.csv", _rows(4).encode("cp1250"), None)
    (root / "export" / "customers-20260103.csv.sha256").write_text("0" * 64 + "  x\n")
    connector = _connector(sandbox_sftp.connection(), ready="manifest")

    first, bad = _refused(connector, "customers-20260103.csv: its sha256 .* does not match")
    assert [r.record_id for r in first.records] == ["P0", "P1"]
    assert bad.records == [] and "does not match the manifest" in bad.rejects[0].reason
    for page in (first, bad):
        connector.acknowledge(page)
    assert _names(root / "archive") == ["customers-20260101.csv", "customers-20260101.csv.sha256"]
    assert _names(root / "error") == ["customers-20260103.csv", "customers-20260103.csv.reason.txt",
                                      "customers-20260103.csv.sha256"]
    assert _names(root / "export") == ["customers-20260102.csv"]


def test_stable_size_mode_skips_a_file_still_growing(sandbox_sftp) -> None:
    path = sandbox_sftp.files_root / "export" / NAME
    _put(path.parent, NAME, HEADER.encode(), None)
    stop = threading.Event()

    def grow() -> None:
        n = 0
        while not stop.is_set():
            with open(path, "ab") as f:
                f.write(f"P{n};Firma;1\r\n".encode())
            n += 1
            time.sleep(0.02)

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        assert list(_connector(sandbox_sftp.connection(), ready="stable_size",
                               stable_seconds=0.3).read_pages(None)) == []
    finally:
        stop.set()
        writer.join()
    [page] = list(_connector(sandbox_sftp.connection(), ready="stable_size",
                             stable_seconds=0.1).read_pages(None))
    assert len(page.records) > 0


# -- transfers cut mid-way ------------------------------------------------------------------
def test_a_download_cut_mid_way_is_retried_and_never_parsed_half(sandbox_sftp) -> None:
    data = _put(sandbox_sftp.files_root / "export", NAME, _rows(5000).encode("cp1250"))
    sandbox_sftp.server.faults.cut_read_after = len(data) // 3

    with pytest.raises(TransientError):  # without a retry: an error, and no page at all
        list(_connector(sandbox_sftp.connection(), retry=ONCE).read_pages(None))
    sandbox_sftp.server.faults.cut_read_after = len(data) // 3
    pages = list(_connector(sandbox_sftp.connection(), page_size=100_000).read_pages(None))

    assert sandbox_sftp.server.faults.cuts == 2
    assert [len(p.records) for p in pages] == [5000]
    assert pages[0].content_hash == hashlib.sha256(data).hexdigest()


def test_a_killed_upload_leaves_no_half_file_and_the_retry_completes(sandbox_sftp) -> None:
    imports = sandbox_sftp.files_root / "import"
    imports.mkdir()
    (imports / "customers-import-b-7.csv.part").write_bytes(b"stale half file of a crashed run")
    writes = [Write(f"k{n}", f"P{n}", {"NAZEV": f"Firma {n} " + "x" * 80}) for n in range(3000)]
    sandbox_sftp.server.faults.cut_write_after = 100_000

    result = _connector(sandbox_sftp.connection()).write(writes, batch_id="b-7")

    assert sandbox_sftp.server.faults.cuts == 1 and len(result.applied) == 3000
    name = f"customers-import-b-7-{keys_tag(writes)}.csv"  # named by the writes it carries
    assert _names(imports) == [name]  # the stale .part of the crashed run is gone too
    lines = (imports / name).read_bytes().decode("cp1250").splitlines()
    assert len(lines) == 3001 and lines[-1].startswith("P2999;Firma 2999")


# -- refused files, archive clashes, paging ---------------------------------------------------
def test_a_garbage_file_goes_to_error_with_a_reason_and_yields_no_record(sandbox_sftp) -> None:
    root = sandbox_sftp.files_root
    _put(root / "export", NAME, _rows(20).encode("cp1250"))  # every row has "ř": not utf-8
    connector = _connector(sandbox_sftp.connection(),
                           fmt=FileFormat(encoding="utf-8", delimiter=";"))
    [page] = _refused(connector, "20 of 20 rows unreadable")
    assert page.records == [] and len(page.rejects) == 1
    assert isinstance(page.rejects[0], UnreadableFile)
    assert "20 of 20 rows unreadable" in page.rejects[0].reason
    assert not connector.complete_export(page)
    connector.acknowledge(page)
    assert _names(root / "error") == [NAME, f"{NAME}.done", f"{NAME}.reason.txt"]
    assert "not utf-8" in (root / "error" / f"{NAME}.reason.txt").read_text()


def test_archiving_never_overwrites_a_different_file(sandbox_sftp) -> None:
    root = sandbox_sftp.files_root
    (root / "archive").mkdir(parents=True)
    (root / "archive" / NAME).write_bytes(b"last month's different file")
    data = _put(root / "export", NAME, _rows(2).encode("cp1250"))
    connector = _connector(sandbox_sftp.connection())
    [page] = list(connector.read_pages(None))
    connector.acknowledge(page)
    connector.acknowledge(page)

    hashed = f"customers-20260101.{hashlib.sha256(data).hexdigest()[:16]}.csv"
    assert (root / "archive" / NAME).read_bytes() == b"last month's different file"
    assert (root / "archive" / hashed).read_bytes() == data
    assert _names(root / "export") == []

    _put(root / "export", NAME, data)  # the very same file delivered again
    [again] = list(connector.read_pages(None))
    (root / "archive" / NAME).write_bytes(data)
    connector.acknowledge(again)
    assert _names(root / "export") == [] and (root / "archive" / NAME).read_bytes() == data


def test_a_large_file_comes_in_pages_and_only_the_last_is_acknowledged(sandbox_sftp) -> None:
    _put(sandbox_sftp.files_root / "export", NAME, (_rows(5) + "broken\r\n").encode("cp1250"))
    connector = _connector(sandbox_sftp.connection(), page_size=2, max_bad_row_share=0.5)
    pages = list(connector.read_pages(None))
    assert [len(p.records) + len(p.rejects) for p in pages] == [2, 2, 2, 0]
    assert len({p.content_hash for p in pages}) == 1
    assert [p.ack_token for p in pages] == [None, None, None, NAME]
    assert not connector.complete_export(pages[-1])  # a row without a readable id


# -- XML exports --------------------------------------------------------------------------------
XML = ('<?xml version="1.0" encoding="windows-1250"?>\n<partners>\n'
       '  <partner><PARTNER_ID>P1</PARTNER_ID><NAZEV>Dvořák</NAZEV></partner>\n'
       '  <partner><PARTNER_ID>P2</PARTNER_ID><NAZEV/></partner>\n</partners>\n')


def test_xml_exports_are_read_and_a_dtd_sends_the_file_to_error(sandbox_sftp) -> None:
    root = sandbox_sftp.files_root
    _put(root / "export", "customers-1.xml", XML.encode("cp1250"))
    evil = XML.replace("<partners>", '<!DOCTYPE partners [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       "\n<partners>").replace("Dvořák", "&x;")
    _put(root / "export", "customers-2.xml", evil.encode("cp1250"))
    connector = _connector(sandbox_sftp.connection(), file_pattern="customers-*.xml",
                           fmt=FileFormat(type="xml", encoding="cp1250"))
    good, bad = _refused(connector, "DOCTYPE is forbidden")
    assert [r.payload for r in good.records] == [{"PARTNER_ID": "P1", "NAZEV": "Dvořák"},
                                                 {"PARTNER_ID": "P2", "NAZEV": ""}]
    assert connector.complete_export(good)
    assert bad.records == [] and "DOCTYPE is forbidden" in bad.rejects[0].reason
    connector.acknowledge(bad)
    assert "customers-2.xml.reason.txt" in _names(root / "error")


# -- no session outlives its use ------------------------------------------------------------
def _client_transports() -> list[paramiko.Transport]:
    return [t for t in threading.enumerate()
            if isinstance(t, paramiko.Transport) and not t.server_mode and t.is_alive()]


def _many_operations(connector: SftpFilesConnector, export: Path, rounds: int) -> None:
    for n in range(rounds):  # 5 sessions a round
        _put(export, f"customers-2026010{n}.csv", _rows(3).encode("cp1250"))
        for page in connector.read_pages(None):
            connector.acknowledge(page)
        connector.write([Write(f"k{n}", "P1", {"NAZEV": "x"})], batch_id=f"b{n}")
        assert connector.test_connection()[0]


def test_no_ssh_session_is_left_open_after_many_operations(sandbox_sftp) -> None:
    before = len(_client_transports())
    _many_operations(_connector(sandbox_sftp.connection()), sandbox_sftp.files_root / "export", 8)
    wrong = _connector(sandbox_sftp.connection(host_key=OTHER_KEY))
    for _ in range(3):
        with pytest.raises(SecurityError):
            list(wrong.read_pages(None))
    assert len(_client_transports()) == before
    deadline = time.monotonic() + 5
    while sandbox_sftp.server.open_transports() and time.monotonic() < deadline:
        time.sleep(0.05)  # the server notices a closed connection on its own schedule
    assert sandbox_sftp.server.open_transports() == 0


def test_no_ssh_session_is_left_open_against_openssh(sshd) -> None:
    prefix, local = sshd.new_area()
    before = len(_client_transports())
    _many_operations(_connector(sshd.connection(), prefix), local / "export", 3)
    assert len(_client_transports()) == before
    assert len(_names(local / "archive")) == 6 and len(_names(local / "import")) == 3


def test_openssh_archive_clash_and_manifest(sshd) -> None:
    prefix, local = sshd.new_area()
    data = _put(local / "export", NAME, _rows(2).encode("cp1250"), None)
    (local / "export" / f"{NAME}.sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
    (local / "archive" / NAME).write_bytes(b"a different file")
    connector = _connector(sshd.connection(), prefix, ready="manifest")
    [page] = list(connector.read_pages(None))
    connector.acknowledge(page)
    assert (local / "archive" / NAME).read_bytes() == b"a different file"
    assert len(_names(local / "archive")) == 3 and _names(local / "export") == []
