"""Exchange of whole files over SFTP: read complete exports, write import files atomically.

One page per export file. A file counts as complete only once the system says so (its
done marker exists, or its size has stopped changing); the hub acknowledges a page once
stored, and only then is the file moved to ``archive_dir``. An import file is uploaded as
``<name>.part``, its size checked, then renamed over ``<name>``: the other side never sees
half a file, and a retried batch replaces its own file instead of adding a second one.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, TypeVar

import paramiko
from pydantic import BaseModel, ConfigDict, Field
from tenacity import Retrying

from connectors.base import JsonDict, Page, RawRecord, RejectedRow, Write, WriteRefusal, WriteResult
from connectors.errors import (
    ConnectorConfigError,
    ConnectorError,
    RemoteRefusedError,
    SecurityError,
    TransientError,
)
from connectors.files.csv_format import FileFormat, encodable, read_rows, write_rows
from connectors.retry import call_with_retry
from connectors.sftp.hostkeys import client_key, parse_extras, pin_host_keys
from hub.connections import ConnectionInfo

log = logging.getLogger(__name__)
T = TypeVar("T")
_CHUNK = 64 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class Settings(BaseModel):
    """The ``connector:`` block of an ``sftp_files`` system in config/hub.yaml."""

    model_config = ConfigDict(extra="forbid")

    id_column: str
    export_dir: str = "export"
    import_dir: str = "import"
    archive_dir: str = "archive"
    error_dir: str = "error"  # where a file nobody could read goes, instead of archive
    file_pattern: str = "customers-*.csv"
    ready: Literal["done_marker", "stable_size"] = "done_marker"
    done_suffix: str = ".done"
    stable_seconds: float = Field(default=2.0, ge=0)  # for ready=stable_size
    import_prefix: str = "customers-import-"
    timeout_seconds: float = Field(default=30, gt=0)
    file_format: FileFormat = FileFormat()  # used unless the constructor is given one


# Every paramiko / socket failure is classified here, once, in order (subclasses first).
_FAILURES: list[tuple[type[BaseException], type[ConnectorError], str]] = [
    (paramiko.BadHostKeyException, SecurityError, "the host key has CHANGED; refusing"),
    (paramiko.AuthenticationException, ConnectorConfigError, "authentication failed"),
    (paramiko.IncompatiblePeer, ConnectorConfigError, "no SSH algorithm in common"),
    (FileNotFoundError, RemoteRefusedError, "no such file or directory"),
    (PermissionError, RemoteRefusedError, "permission denied"),
    (TimeoutError, TransientError, "timed out"),
    (paramiko.ssh_exception.NoValidConnectionsError, TransientError, "cannot connect"),
    (paramiko.SSHException, TransientError, "SSH session failed"),
    (EOFError, TransientError, "connection closed"),
    (socket.error, TransientError, "network error"),
]


def classify(e: BaseException, where: str, system: str) -> ConnectorError:
    """The ConnectorError for ``e``; its message names the place, never a secret."""
    if isinstance(e, ConnectorError):
        return e
    detail = f"{e.__class__.__name__}: {str(e)[:200]}"
    if isinstance(e, OSError) and e.errno is None and not isinstance(e, TimeoutError) \
            and not isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
        # paramiko's SFTP client raises a bare IOError(text) for the server's "Failure".
        return RemoteRefusedError(f"SFTP {where}: the server refused ({str(e)[:80]})",
                                  system=system, detail=detail)
    for exc_type, error_type, label in _FAILURES:
        if isinstance(e, exc_type):
            return error_type(f"SFTP {where}: {label}", system=system, detail=detail)
    raise e  # not a transport failure: a bug, let it show as itself


class SftpFilesConnector:
    """Source and sink for a system that exchanges CSV files over SFTP (the ERP)."""

    Settings = Settings

    def __init__(self, system: str, settings: Settings, conn: ConnectionInfo, *,
                 file_format: FileFormat | None = None, retry_policy: Retrying | None = None):
        if not conn.host or not conn.login:
            raise ConnectorConfigError(f"connection {conn.conn_id} needs host and login",
                                       system=system)
        self.system, self.settings, self._conn = system, settings, conn
        self.file_format = file_format or settings.file_format
        self._extras = parse_extras(conn.extra, system=system)
        self._pkey = client_key(self._extras)
        self._retry = retry_policy
        self._where = f"{conn.host}:{conn.port or 22}"

    # -- connection -------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[paramiko.SFTPClient]:
        """One SSH connection and SFTP channel, closed on exit; failures classified."""
        client = paramiko.SSHClient()
        try:
            pin_host_keys(client, self._extras, self._conn.host or "", self._conn.port or 22)
            self._connect(client)
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.settings.timeout_seconds)
            yield sftp
        except ConnectorError:
            raise
        except Exception as e:  # noqa: BLE001 - translated at the boundary, never swallowed
            raise classify(e, self._where, self.system) from e
        finally:
            client.close()

    def _connect(self, client: paramiko.SSHClient) -> None:
        timeout = self.settings.timeout_seconds
        password = self._conn.password.get_secret_value() or None
        client.connect(
            self._conn.host or "", port=self._conn.port or 22, username=self._conn.login,
            password=password, pkey=self._pkey, timeout=timeout, banner_timeout=timeout,
            auth_timeout=timeout, channel_timeout=timeout,
            allow_agent=False, look_for_keys=False,  # only the credentials the connection names
        )

    def _retried(self, fn: Callable[[], T]) -> T:
        return call_with_retry(fn, self._retry)

    def test_connection(self) -> tuple[bool, str]:
        try:
            with self.session() as sftp:
                sftp.stat(self.settings.export_dir)
        except ConnectorError as e:
            return False, str(e)
        return True, f"connected to {self._where} as {self._conn.login}; " \
                     f"{self.settings.export_dir!r} is readable"

    # -- reading ----------------------------------------------------------------------
    def read_pages(self, cursor: JsonDict | None) -> Iterator[Page]:
        """One page per complete export file, in name order. ``cursor`` is not used: files
        leave the export folder when acknowledged, and the hub's file ledger knows their
        hashes."""
        with tempfile.TemporaryDirectory(prefix="custhub-sftp-") as tmp:
            fetched = self._retried(lambda: self._fetch_ready(Path(tmp)))
            for name, local, digest in fetched:
                yield self._page(name, local, digest)

    def _fetch_ready(self, tmp: Path) -> list[tuple[str, Path, str]]:
        """Download every complete file (in one session, closed before parsing starts)."""
        with self.session() as sftp:
            names = self._ready_files(sftp)
            fetched = []
            for name in names:
                local = tmp / name
                digest = _download(sftp, f"{self.settings.export_dir}/{name}", local)
                fetched.append((name, local, digest))
        log.info("%s: fetched %d complete file(s) from %s", self.system, len(fetched), self._where)
        return fetched

    def _ready_files(self, sftp: paramiko.SFTPClient) -> list[str]:
        listing = _listing(sftp, self.settings.export_dir)
        names = sorted(n for n in listing if fnmatch.fnmatchcase(n, self.settings.file_pattern))
        if self.settings.ready == "done_marker":
            return [n for n in names if n + self.settings.done_suffix in listing]
        time.sleep(self.settings.stable_seconds)  # a file still growing changes size or mtime
        again = _listing(sftp, self.settings.export_dir)
        return [n for n in names if n in again and again[n] == listing[n]]

    def _page(self, name: str, local: Path, digest: str) -> Page:
        location = f"{self.settings.export_dir}/{name}"
        records: list[RawRecord] = []
        rejects: list[RejectedRow] = []
        for item in read_rows(local, self.file_format, self.settings.id_column,
                              source_name=location):
            (records if isinstance(item, RawRecord) else rejects).append(item)
        log.info("%s: %s: %d record(s), %d reject(s)", self.system, name, len(records),
                 len(rejects))
        return Page(records=records, cursor=None, rejects=rejects, source_name=name,
                    content_hash=digest, ack_token=name)

    def acknowledge(self, page: Page) -> None:
        """Move the page's file, then its marker, out of the export folder (idempotent)."""
        if not page.ack_token:
            return
        unreadable = not page.records and bool(page.rejects)
        target = self.settings.error_dir if unreadable else self.settings.archive_dir
        names = [page.ack_token]
        if self.settings.ready == "done_marker":
            names.append(page.ack_token + self.settings.done_suffix)
        self._retried(lambda: self._move_all(names, target))

    def _move_all(self, names: list[str], target: str) -> None:
        with self.session() as sftp:
            _ensure_dir(sftp, target)
            for name in names:  # the file first: a marker left alone points at nothing
                _move(sftp, f"{self.settings.export_dir}/{name}", f"{target}/{name}")

    # -- writing ----------------------------------------------------------------------
    def write(self, writes: Sequence[Write], batch_id: str) -> WriteResult:
        """One import file per batch; the same batch_id always names the same file."""
        accepted, refused = self._acceptable(writes)
        if not accepted:
            return WriteResult(applied=[], refused=refused)
        name = f"{self.settings.import_prefix}{_file_safe(batch_id)}.csv"
        columns = _columns(self.settings.id_column, accepted)
        rows = [{**w.values, self.settings.id_column: w.record_id} for w in accepted]
        with tempfile.TemporaryDirectory(prefix="custhub-sftp-") as tmp:
            local = Path(tmp) / name
            write_rows(local, self.file_format, columns, rows)
            self._retried(lambda: self._upload(local, name))
        log.info("%s: wrote %s (%d row(s)) to %s", self.system, name, len(rows), self._where)
        return WriteResult(applied=[w.idempotency_key for w in accepted], refused=refused)

    def _acceptable(self, writes: Sequence[Write]) -> tuple[list[Write], list[WriteRefusal]]:
        accepted, refused = [], []
        for w in writes:
            text = "".join([w.record_id, *(_cell(v) for v in w.values.values())])
            if not w.record_id.strip():
                refused.append(WriteRefusal(w.idempotency_key, "empty record id"))
            elif not encodable(self.file_format, text):
                reason = f"a value cannot be written in {self.file_format.encoding}"
                refused.append(WriteRefusal(w.idempotency_key, reason))
            else:
                accepted.append(w)
        return accepted, refused

    def _upload(self, local: Path, name: str) -> None:
        final = f"{self.settings.import_dir}/{name}"
        part = final + ".part"
        size = local.stat().st_size
        with self.session() as sftp:
            _ensure_dir(sftp, self.settings.import_dir)
            sftp.put(str(local), part, confirm=False)
            remote_size = sftp.stat(part).st_size
            if remote_size != size:  # a short write must never be renamed into place
                raise TransientError(f"SFTP {self._where}: {part} has {remote_size} bytes, "
                                     f"expected {size}", system=self.system)
            _replace(sftp, part, final)


def _listing(sftp: paramiko.SFTPClient, directory: str) -> dict[str, tuple[int, int]]:
    return {a.filename: (a.st_size or 0, a.st_mtime or 0) for a in sftp.listdir_attr(directory)}


def _download(sftp: paramiko.SFTPClient, remote: str, local: Path) -> str:
    """Copy ``remote`` to ``local`` and return its sha256, in one pass."""
    digest = hashlib.sha256()
    with sftp.open(remote, "rb") as src, open(local, "wb") as dst:
        src.prefetch()
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()


def _ensure_dir(sftp: paramiko.SFTPClient, directory: str) -> None:
    try:
        sftp.stat(directory)
    except FileNotFoundError:
        sftp.mkdir(directory)


def _replace(sftp: paramiko.SFTPClient, src: str, dst: str) -> None:
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


def _move(sftp: paramiko.SFTPClient, src: str, dst: str) -> None:
    """Move unless already moved: acknowledging twice is not an error."""
    try:
        _replace(sftp, src, dst)
    except FileNotFoundError:
        sftp.stat(dst)  # still missing at the destination too: that is a real error


def _file_safe(batch_id: str) -> str:
    """``batch_id`` as a file name part; one that had to be changed gets a hash suffix so
    two different batches can never share a file."""
    safe = _SAFE_NAME.sub("_", batch_id)
    if safe == batch_id:
        return safe
    return f"{safe}-{hashlib.sha256(batch_id.encode()).hexdigest()[:8]}"


def _columns(id_column: str, writes: Sequence[Write]) -> list[str]:
    """The id column, then every column any write sets, in order of first appearance."""
    columns = dict.fromkeys([id_column])
    for w in writes:
        columns.update(dict.fromkeys(w.values))
    return list(columns)


def _cell(value: object) -> str:
    return "" if value is None else str(value)
