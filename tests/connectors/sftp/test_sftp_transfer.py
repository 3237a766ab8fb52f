"""Whole-file transfer at speed (255 kB read requests, AES-GCM first) keeps every byte: a 5 MB
file down and up again, against OpenSSH's sshd and the sandbox's paramiko server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from tenacity import Retrying, stop_after_attempt, wait_none

from connectors.files.csv_format import FileFormat
from connectors.sftp import remote
from connectors.sftp.files import SftpFilesConnector
from core.connections import ConnectionInfo

pytestmark = pytest.mark.integration

SIZE = 5 * 2**20 + 12_345  # not a multiple of any request size


def _connector(conn: ConnectionInfo, prefix: str) -> SftpFilesConnector:
    settings = SftpFilesConnector.Settings(
        id_column="PARTNER_ID", timeout_seconds=10, export_dir=f"{prefix}/export",
        import_dir=f"{prefix}/import", archive_dir=f"{prefix}/archive",
        error_dir=f"{prefix}/error")
    return SftpFilesConnector("erp", settings, conn, file_format=FileFormat(),
                              retry_policy=Retrying(stop=stop_after_attempt(1), wait=wait_none(),
                                                    reraise=True))


def _round_trip(connector: SftpFilesConnector, served: Path, prefix: str, tmp: Path) -> None:
    data = os.urandom(SIZE)
    (served / "export" / "big.bin").write_bytes(data)

    digest = connector.fetch(f"{prefix}/export/big.bin", tmp / "down.bin", SIZE)
    connector.put(tmp / "down.bin", f"{prefix}/import", "big.bin")

    assert (tmp / "down.bin").read_bytes() == data
    assert digest == hashlib.sha256(data).hexdigest()
    assert (served / "import" / "big.bin").read_bytes() == data
    assert not (served / "import" / "big.bin.part").exists()
    with connector.session() as sftp:
        assert remote.remote_digest(sftp, f"{prefix}/import/big.bin") == digest


def test_a_5_mb_file_round_trips_byte_for_byte_through_openssh(sshd, tmp_path: Path) -> None:
    prefix, served = sshd.new_area()
    connector = _connector(sshd.connection(), prefix)
    _round_trip(connector, served, prefix, tmp_path)
    with connector.session() as sftp:  # OpenSSH offers AES-GCM: it is what is used
        assert sftp.get_channel().get_transport().remote_cipher == "aes128-gcm@openssh.com"


def test_a_5_mb_file_round_trips_byte_for_byte_through_paramiko(sandbox_sftp,
                                                                 tmp_path: Path) -> None:
    served = sandbox_sftp.files_root / "area"
    for folder in ("export", "import"):
        (served / folder).mkdir(parents=True)
    _round_trip(_connector(sandbox_sftp.connection(), "area"), served, "area", tmp_path)
