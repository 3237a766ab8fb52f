"""SftpFilesConnector over real sockets: the sandbox paramiko server and a real OpenSSH sshd."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr
from tenacity import Retrying, stop_after_attempt, wait_none

from connectors.base import Write
from connectors.errors import ConnectorConfigError, FileRefusedError, SecurityError, TransientError
from connectors.files.csv_format import FileFormat
from connectors.sftp.files import SftpFilesConnector
from connectors.sftp.imports import keys_tag
from core.connections import ConnectionInfo

pytestmark = pytest.mark.integration

ERP = FileFormat(encoding="cp1250", delimiter=";")
OTHER_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"
FAST = Retrying(stop=stop_after_attempt(2), wait=wait_none(), reraise=True)
EXPORT = ("PARTNER_ID;NAZEV;UVEROVY_LIMIT\r\nP1;Dvořák a syn s.r.o.;150000,50\r\n"
          "P2;Beta;1\r\n")


def _connector(conn: ConnectionInfo, prefix: str = "", **settings: object) -> SftpFilesConnector:
    dirs = {d: f"{prefix}/{d}" if prefix else d for d in ("export", "import", "archive", "error")}
    config = SftpFilesConnector.Settings(
        id_column="PARTNER_ID", timeout_seconds=5, export_dir=dirs["export"],
        import_dir=dirs["import"], archive_dir=dirs["archive"], error_dir=dirs["error"],
        **settings)
    return SftpFilesConnector("erp", config, conn, file_format=ERP, retry_policy=FAST)


def _export(folder: Path, name: str, text: str = EXPORT, done: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode("cp1250"))
    if done:
        (folder / f"{name}.done").write_bytes(b"")


def _write(key: str, record_id: str, **values: object) -> Write:
    return Write(idempotency_key=key, record_id=record_id, values=values)


# -- the sandbox server (paramiko), password login -----------------------------------------
def test_reads_complete_files_and_archives_them_on_acknowledge(sandbox_sftp) -> None:
    root = sandbox_sftp.files_root
    _export(root / "export", "customers-20260101.csv")
    _export(root / "export", "customers-20260102.csv", done=False)  # still being written
    (root / "export" / "other.csv").write_text("x")
    connector = _connector(sandbox_sftp.connection())

    [page] = list(connector.read_pages(None))
    assert page.source_name == page.ack_token == "customers-20260101.csv"
    assert len(page.content_hash or "") == 64 and page.cursor is None and page.rejects == []
    assert [r.record_id for r in page.records] == ["P1", "P2"]
    assert page.records[0].payload["NAZEV"] == "Dvořák a syn s.r.o."
    assert page.records[0].location == "export/customers-20260101.csv:2"

    connector.acknowledge(page)
    connector.acknowledge(page)  # twice is harmless
    assert sorted(p.name for p in (root / "archive").iterdir()) == [
        "customers-20260101.csv", "customers-20260101.csv.done"]
    assert sorted(p.name for p in (root / "export").iterdir()) == [
        "customers-20260102.csv", "other.csv"]
    assert list(connector.read_pages(None)) == []


def test_stable_size_mode_picks_files_that_stopped_growing(sandbox_sftp) -> None:
    _export(sandbox_sftp.files_root / "export", "customers-20260101.csv", done=False)
    connector = _connector(sandbox_sftp.connection(), ready="stable_size", stable_seconds=0.1)
    [page] = list(connector.read_pages(None))
    connector.acknowledge(page)
    assert (sandbox_sftp.files_root / "archive" / "customers-20260101.csv").exists()


def test_a_file_nobody_can_read_goes_to_the_error_folder(sandbox_sftp) -> None:
    _export(sandbox_sftp.files_root / "export", "customers-20260101.csv", text="foo;bar\r\n")
    connector = _connector(sandbox_sftp.connection())
    pages = connector.read_pages(None)
    [page] = [next(pages)]
    assert page.records == [] and len(page.rejects) == 1
    connector.acknowledge(page)
    with pytest.raises(FileRefusedError, match="no readable header"):
        next(pages)  # once every file is read: that system's problem, in one line
    assert (sandbox_sftp.files_root / "error" / "customers-20260101.csv").exists()


def test_cp1250_export_read_as_utf8_gives_rejects_with_line_numbers(sandbox_sftp) -> None:
    _export(sandbox_sftp.files_root / "export", "customers-20260101.csv")
    connector = SftpFilesConnector(
        "erp", SftpFilesConnector.Settings(id_column="PARTNER_ID", max_bad_row_share=0.5),
        sandbox_sftp.connection(), file_format=FileFormat(encoding="utf-8", delimiter=";"))
    [page] = list(connector.read_pages(None))
    assert [r.record_id for r in page.records] == ["P2"]
    assert [r.location for r in page.rejects] == ["export/customers-20260101.csv:2"]


def test_write_is_atomic_and_a_retried_batch_does_not_double(sandbox_sftp) -> None:
    connector = _connector(sandbox_sftp.connection())
    writes = [_write("k1", "P1", NAZEV="Dvořák s.r.o."), _write("k2", "P2", ICO="12345678")]
    for _ in range(2):  # the retry of the same batch
        result = connector.write(writes, batch_id="b-1")
        assert result.applied == ["k1", "k2"] and result.refused == []
    files = sorted((sandbox_sftp.files_root / "import").iterdir())
    assert [f.name for f in files] == [f"customers-import-b-1-{keys_tag(writes)}.csv"]
    assert files[0].read_bytes().decode("cp1250").splitlines() == [
        "PARTNER_ID;NAZEV;ICO", "P1;Dvořák s.r.o.;", "P2;;12345678"]


def test_write_refuses_what_the_encoding_cannot_hold(sandbox_sftp) -> None:
    connector = _connector(sandbox_sftp.connection())
    result = connector.write([_write("ok", "P1", NAZEV="A"), _write("bad", "P2", NAZEV="🙂")],
                             batch_id="2026-01-01T00:00")
    assert result.applied == ["ok"] and [r.idempotency_key for r in result.refused] == ["bad"]
    [written] = (sandbox_sftp.files_root / "import").iterdir()
    assert written.name.startswith("customers-import-2026-01-01T00_00-")  # ":" made safe


def test_wrong_pinned_host_key_refuses(sandbox_sftp) -> None:
    connector = _connector(sandbox_sftp.connection(host_key=OTHER_KEY))
    with pytest.raises(SecurityError, match="CHANGED"):
        list(connector.read_pages(None))
    ok, message = connector.test_connection()
    assert not ok and "host key" in message


def test_unknown_host_is_refused(sandbox_sftp, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[elsewhere]:22 ssh-ed25519 {OTHER_KEY}\n")
    conn = sandbox_sftp.connection(host_key=None, known_hosts=str(known_hosts))
    with pytest.raises(SecurityError, match="not trusted"):
        _connector(conn).write([_write("k", "P1", NAZEV="x")], batch_id="b")


def test_wrong_password_is_a_config_error_and_never_shown(sandbox_sftp, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_password = "nope-" + sandbox_sftp.password
    wrong = replace(sandbox_sftp.connection(), password=SecretStr(wrong_password))
    connector = _connector(wrong)
    with pytest.raises(ConnectorConfigError, match="authentication failed") as caught:
        list(connector.read_pages(None))
    ok, message = connector.test_connection()
    seen = f"{caught.value} {caught.value.detail} {message} {caplog.text} {wrong!r}"
    assert not ok and wrong_password not in seen


def test_nothing_listening_is_transient(sandbox_sftp) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    conn = replace(sandbox_sftp.connection(), port=port)
    with pytest.raises(TransientError, match="cannot connect"):
        list(_connector(conn).read_pages(None))


def test_test_connection_reports_success(sandbox_sftp) -> None:
    (sandbox_sftp.files_root / "export").mkdir()
    ok, message = _connector(sandbox_sftp.connection()).test_connection()
    assert ok and "connected" in message and sandbox_sftp.password not in message


# -- a real OpenSSH sshd, key login, chrooted internal-sftp --------------------------------
def test_round_trip_through_openssh(sshd) -> None:
    prefix, local = sshd.new_area()
    _export(local / "export", "customers-20260101.csv")
    connector = _connector(sshd.connection(), prefix)
    assert connector.test_connection()[0]

    [page] = list(connector.read_pages(None))
    assert [r.record_id for r in page.records] == ["P1", "P2"]
    connector.acknowledge(page)
    assert sorted(p.name for p in (local / "archive").iterdir()) == [
        "customers-20260101.csv", "customers-20260101.csv.done"]

    for name in ("Nové jméno", "Ještě novější"):  # same batch twice: replaced via posix-rename
        assert connector.write([_write("k1", "P1", NAZEV=name)], "b-1").applied == ["k1"]
    [written] = (local / "import").iterdir()
    assert written.read_bytes().decode("cp1250") == "PARTNER_ID;NAZEV\r\nP1;Ještě novější\r\n"


def test_openssh_with_known_hosts_and_key_file(sshd) -> None:
    prefix, local = sshd.new_area()
    conn = sshd.connection(private_key=None, key_file=str(sshd.key_file), host_key=None,
                           known_hosts=str(sshd.known_hosts))
    assert _connector(conn, prefix).test_connection()[0]


def test_openssh_with_a_wrong_host_key_refuses(sshd) -> None:
    prefix, _ = sshd.new_area()
    with pytest.raises(SecurityError):
        _connector(sshd.connection(host_key=OTHER_KEY), prefix).write(
            [_write("k", "P1", NAZEV="x")], "b")
