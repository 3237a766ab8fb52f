"""The sandbox SFTP server, driven by a real paramiko client over a loopback socket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sandbox.sftp_server import SftpServer

pytestmark = pytest.mark.integration


@contextmanager
def _client(server: SftpServer, login: str = "erp",
            **auth: object) -> Iterator[paramiko.SFTPClient]:
    client = paramiko.SSHClient()
    client.get_host_keys().add(f"[{server.host}]:{server.port}", server.host_key.get_name(),
                               server.host_key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(server.host, server.port, username=login, timeout=10, allow_agent=False,
                   look_for_keys=False, **auth)
    try:
        yield client.open_sftp()
    finally:
        transport = client.get_transport()
        client.close()
        if transport is not None:  # close() skips the join once the server has hung up first
            transport.join(timeout=10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SftpServer]:
    with SftpServer(tmp_path / "root", tmp_path / "host_key", users={"erp": "secret"}) as s:
        yield s


def test_put_list_get_and_rename_semantics(server: SftpServer) -> None:
    with _client(server, password="secret") as sftp:
        sftp.mkdir("import")
        with sftp.open("import/a.csv.part", "wb") as f:
            f.write(b"one")
        assert sftp.listdir("import") == ["a.csv.part"]
        sftp.rename("import/a.csv.part", "import/a.csv")
        with sftp.open("import/b", "wb") as f:
            f.write(b"two")
        with pytest.raises(OSError):  # plain SFTP rename never overwrites
            sftp.rename("import/b", "import/a.csv")
        sftp.posix_rename("import/b", "import/a.csv")  # the OpenSSH extension does
        assert sftp.open("import/a.csv").read() == b"two"
        assert sftp.stat("import/a.csv").st_size == 3
    assert (server.root / "import" / "a.csv").read_bytes() == b"two"


def test_paths_are_confined_under_root(server: SftpServer, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    (server.root / "link").symlink_to(tmp_path / "outside.txt")
    with _client(server, password="secret") as sftp:
        assert sftp.normalize("../../..") == "/"
        assert "outside.txt" not in sftp.listdir("../..")  # ".." stops at the root
        with pytest.raises(PermissionError):
            sftp.open("link").read()  # a symlink out of the root is refused


def test_wrong_password_is_refused(server: SftpServer) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        with _client(server, password="wrong"):
            pass


def test_public_key_login(tmp_path: Path) -> None:
    key_pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption())
    (tmp_path / "user_key").write_bytes(key_pem)
    user_key = paramiko.Ed25519Key(filename=str(tmp_path / "user_key"))
    with SftpServer(tmp_path / "root", tmp_path / "host_key", users={},
                    authorized_keys={"erp": [user_key]}) as server:
        with _client(server, pkey=user_key) as sftp:
            assert sftp.listdir(".") == []


def test_host_key_is_persisted_between_runs(tmp_path: Path) -> None:
    first = SftpServer(tmp_path / "root", tmp_path / "host_key", users={})
    second = SftpServer(tmp_path / "root", tmp_path / "host_key", users={})
    assert first.host_key_base64() == second.host_key_base64()
    assert (tmp_path / "host_key").stat().st_mode & 0o077 == 0


def test_stop_ends_every_thread_even_with_a_client_connected(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    server = SftpServer(tmp_path / "root", tmp_path / "host_key", users={"erp": "secret"})
    server.start()
    with _client(server, password="secret") as sftp:
        sftp.listdir(".")
        server.stop()
        with pytest.raises((OSError, EOFError, paramiko.SSHException)):
            sftp.listdir(".")
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == []


def test_an_armed_fault_cuts_one_connection_mid_read_then_disarms(server: SftpServer) -> None:
    (server.root / "big.bin").write_bytes(b"x" * 200_000)
    server.faults.cut_read_after = 50_000
    with pytest.raises((EOFError, OSError, paramiko.SSHException)):
        with _client(server, password="secret") as sftp:
            with sftp.open("big.bin", "rb") as f:
                f.read()
    assert server.faults.cuts == 1 and server.faults.cut_read_after is None
    with _client(server, password="secret") as sftp, sftp.open("big.bin", "rb") as f:
        assert len(f.read()) == 200_000
