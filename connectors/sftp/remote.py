"""SFTP sessions and the file operations the connector builds on (paramiko).

A session is one SSH connection and one SFTP channel: host key pinned, every wait bounded,
closed on exit, and its transport thread joined, so that no session outlives its use
however many operations a run makes. Every paramiko or socket failure is classified here,
once, into the connector error tree.
"""

from __future__ import annotations

import hashlib
import posixpath
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko

from connectors.classify import Rule, Rules
from connectors.classify import classify as classify_by
from connectors.errors import Action, ConnectorError, Kind
from connectors.sftp.hostkeys import SftpExtras, pin_host_keys
from core.connections import ConnectionInfo

CHUNK = 1024 * 1024  # paramiko pipelines reads and writes in 32 kB packets underneath
# Read-ahead stays paramiko's default (requests for the whole file sent at once): with
# ``max_concurrent_requests`` its prefetch may find no request in flight before the next one is
# sent, take itself for done and fall back to one round trip per request (3-6 MB/s measured).
# Each request asks for OpenSSH's largest read (SFTP_MAX_READ_LENGTH, which it announces in
# limits@openssh.com) instead of paramiko's 32 kB: 8x fewer requests, and paramiko scans its
# prefetch buffers per read. Measured on loopback: 14-18 MB/s at 32 kB, 36-46 at this size,
# OpenSSH's client 37-45 (bench/sftp_transfer.py). A server that answers with less is still
# read right (paramiko then reads the rest one request at a time; size and sha256 checked).
READ_REQUEST = 261_120
# AES-GCM first: an AEAD cipher, one pass over each packet where AES-CTR needs a second for
# its HMAC (uploads measured 22 -> 31 MB/s). paramiko's other ciphers stay after them, so a
# server without GCM still connects.
_CIPHERS_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
_JOIN_SECONDS = 5.0

# Every paramiko / socket failure is classified here, once (connectors.classify), first match wins.
_WHERE = "SFTP {where}: "
RULES: Rules = (
    Rule(Action.FAIL, Kind.SECURITY, _WHERE + "the host key has CHANGED; refusing",
         exception=paramiko.BadHostKeyException),
    Rule(Action.FAIL, Kind.CONFIG, _WHERE + "authentication failed",
         exception=paramiko.AuthenticationException),
    Rule(Action.FAIL, Kind.CONFIG, _WHERE + "no SSH algorithm in common",
         exception=paramiko.IncompatiblePeer),
    Rule(Action.FAIL, Kind.REFUSED, _WHERE + "no such file or directory",
         exception=FileNotFoundError),
    Rule(Action.FAIL, Kind.REFUSED, _WHERE + "permission denied", exception=PermissionError),
    Rule(Action.RETRY, Kind.TRANSIENT, _WHERE + "timed out", exception=TimeoutError),
    Rule(Action.RETRY, Kind.TRANSIENT, _WHERE + "cannot connect",
         exception=paramiko.ssh_exception.NoValidConnectionsError),
    # paramiko's SFTP client raises a bare IOError(text), no errno, for the server's "Failure"
    Rule(Action.FAIL, Kind.REFUSED, _WHERE + "the server refused ({text})", exception=OSError,
         when=lambda e: getattr(e, "errno", None) is None),
    Rule(Action.RETRY, Kind.TRANSIENT, _WHERE + "SSH session failed",
         exception=paramiko.SSHException),
    Rule(Action.RETRY, Kind.TRANSIENT, _WHERE + "connection closed", exception=EOFError),
    Rule(Action.RETRY, Kind.TRANSIENT, _WHERE + "network error", exception=OSError),
)
# What the table covers; anything else is a bug and surfaces as itself.
SFTP_ERRORS = (paramiko.SSHException, OSError, EOFError)


def classify(e: BaseException, where: str, system: str) -> ConnectorError:
    """The ConnectorError for ``e``; its message names the place, never a secret."""
    if isinstance(e, ConnectorError):
        return e
    if not isinstance(e, SFTP_ERRORS):
        raise e  # not a transport failure: a bug, let it show as itself
    return classify_by(e, RULES, system=system, where=where)


@contextmanager
def open_session(conn: ConnectionInfo, extras: SftpExtras, pkey: paramiko.PKey | None,
                 timeout: float, system: str) -> Iterator[paramiko.SFTPClient]:
    """One SSH connection and SFTP channel, closed (thread joined) on exit."""
    client = paramiko.SSHClient()
    where = f"{conn.host}:{conn.port or 22}"
    try:
        pin_host_keys(client, extras, conn.host or "", conn.port or 22)
        client.connect(
            conn.host or "", port=conn.port or 22, username=conn.login,
            password=conn.password.get_secret_value() or None, pkey=pkey, timeout=timeout,
            banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout,
            allow_agent=False, look_for_keys=False,  # only the credentials the connection names
            transport_factory=_transport)
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(timeout)
        yield sftp
    except SFTP_ERRORS as e:  # translated at the boundary, never swallowed
        raise classify(e, where, system) from e
    finally:
        _close(client)


def _transport(sock: socket.socket, disabled_algorithms: dict[str, list[str]] | None = None
               ) -> paramiko.Transport:
    """paramiko's Transport with AES-GCM preferred (host key checking is the client's, as
    before: ``pin_host_keys``)."""
    transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
    options = transport.get_security_options()
    first = tuple(c for c in _CIPHERS_FIRST if c in options.ciphers)
    options.ciphers = first + tuple(c for c in options.ciphers if c not in first)
    return transport


def _close(client: paramiko.SSHClient) -> None:
    """Close and wait for the transport thread: close() alone returns while that thread
    still sits in recv() until its 0.1 s poll notices; shutting the socket down wakes it."""
    transport = client.get_transport()
    if transport is not None and transport.sock is not None:
        try:
            transport.sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already down: the peer went away first
            pass
    client.close()
    if transport is not None:
        transport.join(_JOIN_SECONDS)


def listing(sftp: paramiko.SFTPClient, directory: str) -> dict[str, tuple[int, int]]:
    """name -> (size, mtime) of a directory's entries."""
    return {a.filename: (a.st_size or 0, a.st_mtime or 0) for a in sftp.listdir_attr(directory)}


def stat(sftp: paramiko.SFTPClient, path: str) -> tuple[int, int] | None:
    """(size, mtime) of ``path`` as a listing gives them; None if it is gone."""
    try:
        a = sftp.stat(path)
    except FileNotFoundError:
        return None
    return a.st_size or 0, a.st_mtime or 0


def download(sftp: paramiko.SFTPClient, remote: str, local: Path) -> tuple[str, int]:
    """Copy ``remote`` to ``local`` (truncated first); its sha256 and size, in one pass."""
    digest, size = hashlib.sha256(), 0
    with sftp.open(remote, "rb") as src, open(local, "wb") as dst:
        src.MAX_REQUEST_SIZE = READ_REQUEST  # paramiko's per-file setting (a class default)
        src.prefetch()
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def remote_digest(sftp: paramiko.SFTPClient, remote: str) -> str:
    digest = hashlib.sha256()
    with sftp.open(remote, "rb") as src:
        src.MAX_REQUEST_SIZE = READ_REQUEST
        src.prefetch()
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_small(sftp: paramiko.SFTPClient, remote: str, limit: int = 4096) -> bytes:
    with sftp.open(remote, "rb") as f:
        return f.read(limit)


def write_small(sftp: paramiko.SFTPClient, remote: str, data: bytes) -> None:
    with sftp.open(remote, "wb") as f:
        f.write(data)


def ensure_dir(sftp: paramiko.SFTPClient, directory: str) -> None:
    try:
        sftp.stat(directory)
    except FileNotFoundError:
        sftp.mkdir(directory)


def replace(sftp: paramiko.SFTPClient, src: str, dst: str) -> None:
    """Rename ``src`` over ``dst`` atomically where the server has posix-rename (OpenSSH)."""
    try:
        sftp.posix_rename(src, dst)
    except (FileNotFoundError, PermissionError):
        raise
    except OSError:  # extension unsupported: plain SFTP rename refuses to overwrite
        try:
            sftp.remove(dst)
        except FileNotFoundError:
            pass
        sftp.rename(src, dst)


def exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def move_no_clobber(sftp: paramiko.SFTPClient, src: str, directory: str,
                    digest: str) -> str | None:
    """Move ``src`` into ``directory`` without ever overwriting a different file there.

    A namesake with the same content means the file was delivered twice: the copy in
    the export folder goes. A namesake with other content keeps its name; this file gets
    one with its hash in it (which can only ever hold this content). Moving again after
    a move is a no-op. Returns the name given, None if ``src`` was already gone.
    """
    name = posixpath.basename(src)
    dst = f"{directory}/{name}"
    try:
        sftp.rename(src, dst)  # plain SFTP rename: fails when dst exists, never overwrites
        return name
    except OSError:  # FileNotFoundError included: servers differ in which they check first
        if not exists(sftp, src):
            return None  # already moved
        if not exists(sftp, dst):
            raise
    if remote_digest(sftp, dst) == digest:
        sftp.remove(src)
        return name
    stem, dot, suffix = name.rpartition(".")
    unique = f"{stem}.{digest[:16]}.{suffix}" if dot else f"{name}.{digest[:16]}"
    replace(sftp, src, f"{directory}/{unique}")
    return unique
