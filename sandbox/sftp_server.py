"""An SFTP server on a loopback socket, serving one directory (paramiko's server side).

For the demo and the tests: the connector reaches it exactly as it would reach a real
server, over TCP with key exchange, host key verification and authentication. Every
path a client names is confined under ``root``.
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paramiko.sftp import SFTP_FAILURE, SFTP_OK, SFTP_PERMISSION_DENIED

log = logging.getLogger(__name__)


def load_or_create_host_key(path: Path) -> paramiko.PKey:
    """Ed25519 host key from ``path``, generated once: a second demo run shows the same key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    return paramiko.Ed25519Key(filename=str(path))


class _Auth(paramiko.ServerInterface):
    """Password and public-key authentication; one SFTP session channel, nothing else."""

    def __init__(self, users: dict[str, str], authorized_keys: dict[str, list[paramiko.PKey]]):
        self._users, self._keys = users, authorized_keys

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str) -> int:
        expected = self._users.get(username)
        if expected is not None and hmac.compare_digest(expected.encode(), password.encode()):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if any(key == k for k in self._keys.get(username, [])):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


@dataclass
class Faults:
    """One-shot faults a test can arm: the next file read (or write) that goes past this many
    bytes cuts the TCP connection, as a network drop or a killed peer would."""

    cut_read_after: int | None = None
    cut_write_after: int | None = None
    cuts: int = 0  # how many connections were cut so far


class _Cutter:
    """Arms one connection with the server's Faults; cutting shuts its socket down."""

    def __init__(self, faults: Faults, sock: socket.socket):
        self._faults, self._sock = faults, sock

    def check(self, kind: str, end: int) -> bool:
        limit = getattr(self._faults, f"cut_{kind}_after")
        if limit is None or end <= limit:
            return False
        setattr(self._faults, f"cut_{kind}_after", None)
        self._faults.cuts += 1
        self._sock.shutdown(socket.SHUT_RDWR)
        return True


class _Handle(paramiko.SFTPHandle):
    def __init__(self, local: str, flags: int, file: object, cutter: _Cutter):
        super().__init__(flags)
        self.filename, self.readfile, self.writefile = local, file, file
        self._cutter = cutter

    def read(self, offset: int, length: int) -> bytes | int:
        if self._cutter.check("read", offset + length):
            return SFTP_FAILURE
        return super().read(offset, length)

    def write(self, offset: int, data: bytes) -> int:
        result = super().write(offset, data)  # the bytes land first: a half-written file stays
        self._cutter.check("write", offset + len(data))
        return result

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)


def _fdopen_mode(flags: int) -> str:
    if flags & os.O_WRONLY:
        return "ab" if flags & os.O_APPEND else "wb"
    if flags & os.O_RDWR:
        return "a+b" if flags & os.O_APPEND else "r+b"
    return "rb"


class _RootedSftp(paramiko.SFTPServerInterface):
    """File operations on ``root``; a path that would leave it is refused."""

    def __init__(self, server: paramiko.ServerInterface, root: Path, cutter: _Cutter):
        super().__init__(server)
        self._root, self._cutter = root.resolve(), cutter

    def _local(self, path: str | bytes) -> str | None:
        text = path.decode() if isinstance(path, bytes) else path
        local = (self._root / self.canonicalize(text).lstrip("/")).resolve()
        return str(local) if local.is_relative_to(self._root) else None

    def _do(self, path: str, action) -> int | object:
        """Run ``action(local_path)``; OS errors become SFTP status codes."""
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED
        try:
            result = action(local)
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        return SFTP_OK if result is None else result

    def list_folder(self, path: str):
        def listing(local: str) -> list[paramiko.SFTPAttributes]:
            return [paramiko.SFTPAttributes.from_stat(os.lstat(os.path.join(local, n)), n)
                    for n in os.listdir(local)]
        return self._do(path, listing)

    def stat(self, path: str):
        return self._do(path, lambda local: paramiko.SFTPAttributes.from_stat(os.stat(local)))

    def lstat(self, path: str):
        return self._do(path, lambda local: paramiko.SFTPAttributes.from_stat(os.lstat(local)))

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes):
        def opened(local: str) -> _Handle:
            mode = getattr(attr, "st_mode", None) or 0o644
            fd = os.open(local, flags | getattr(os, "O_BINARY", 0), mode & 0o777)
            return _Handle(local, flags, os.fdopen(fd, _fdopen_mode(flags)), self._cutter)
        return self._do(path, opened)

    def remove(self, path: str) -> int:
        return self._do(path, os.remove)

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return self._do(path, lambda local: os.mkdir(local, 0o755))

    def rmdir(self, path: str) -> int:
        return self._do(path, os.rmdir)

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return self._do(path, lambda local: paramiko.SFTPServer.set_file_attr(local, attr))

    def rename(self, oldpath: str, newpath: str) -> int:
        """SFTP v3 rename: refuses to overwrite (POSIX rename would)."""
        new = self._local(newpath)
        if new is not None and os.path.lexists(new):
            return SFTP_FAILURE
        return self.posix_rename(oldpath, newpath)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        new = self._local(newpath)
        if new is None:
            return SFTP_PERMISSION_DENIED
        return self._do(oldpath, lambda old: os.replace(old, new))


class SftpServer:
    """``start()`` listens on loopback and returns the port; ``stop()`` ends every thread."""

    def __init__(self, root: Path, host_key_path: Path, users: dict[str, str],
                 authorized_keys: dict[str, list[paramiko.PKey]] | None = None):
        self.root = Path(root)
        self.host_key = load_or_create_host_key(Path(host_key_path))
        self._auth = _Auth(dict(users), dict(authorized_keys or {}))
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._transports: list[paramiko.Transport] = []
        self._stopping = threading.Event()
        self.host, self.port = "127.0.0.1", 0
        self.faults = Faults()

    def open_transports(self) -> int:
        """Server-side SSH transports still alive (a client that closes leaves none)."""
        return sum(t.is_alive() for t in self._transports)

    def host_key_base64(self) -> str:
        """The public host key as Airflow's SFTP ``host_key`` extra expects it."""
        return base64.b64encode(self.host_key.asbytes()).decode()

    def known_hosts_line(self) -> str:
        entry = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{entry} {self.host_key.get_name()} {self.host_key_base64()}\n"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.2)  # so the accept loop notices stop() promptly
        self.host, self.port = host, self._listener.getsockname()[1]
        self._stopping.clear()
        self._accepting = threading.Thread(target=self._accept_loop, name=f"sftp-{self.port}",
                                           daemon=True)
        self._accepting.start()
        log.info("sandbox SFTP server on %s:%d serving %s", self.host, self.port, self.root)
        return self.port

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed by stop()
            self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        transport = paramiko.Transport(sock)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _RootedSftp, self.root,
                                        _Cutter(self.faults, sock))
        self._transports = [t for t in self._transports if t.is_alive()] + [transport]
        try:
            # With an event, start_server returns at once: negotiation runs in its own thread.
            transport.start_server(event=threading.Event(), server=self._auth)
        except (paramiko.SSHException, OSError) as e:
            log.info("SFTP client dropped during start: %s", e.__class__.__name__)
            transport.close()

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
        for transport in self._transports:
            transport.close()
            transport.join(timeout=5)
        self._transports, self._listener, self._accepting = [], None, None

    def __enter__(self) -> SftpServer:
        if self._listener is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
