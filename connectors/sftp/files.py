"""Exchange of whole files over SFTP: read complete exports, write import files atomically.

Reading, per export file, in name order:
1. pick it only once complete, as configured (``ready``): its done marker exists; or its
   manifest (``<name>.sha256``, sha256sum format) exists and names the checksum the
   download must match; or its size and mtime stay the same across two listings;
2. download it to a temporary file in a fresh session, checking the byte count against the
   listing: a cut connection is retried from scratch, and half a file is never parsed;
3. assess it once (``connectors.files.reader.assess``): past ``max_bad_row_share`` of bad
   rows, or unreadable as a whole, the file is refused: one page carrying the reason and
   no records, which moves it to ``error_dir`` with a ``.reason.txt`` when acknowledged;
4. otherwise stream it again in pages of ``page_size``; every page carries the file's
   content hash (the hub's file ledger key), only the last its ``ack_token``: the hub
   acknowledges that one once everything is stored, and only then does the file move to
   ``archive_dir`` (never over a different file: see ``remote.move_no_clobber``).

Writing: one import file per batch, uploaded as ``<name>.part``, its size checked, then
renamed over ``<name>`` (posix-rename where the server has it): the other side never sees
half a file. The name comes from the writes the file carries (``connectors.sftp.imports``):
a re-sent batch, in any run, replaces its own file instead of adding a second one, and
``settle`` finds it after a crash in the import folder or where the system's import job
moved it.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeVar

import paramiko
from pydantic import BaseModel, ConfigDict, Field
from tenacity import Retrying

from connectors.base import JsonDict, Page, RawRecord, RejectedRow, Write, WriteRefusal, WriteResult
from connectors.errors import ConnectorConfigError, ConnectorError, TransientError
from connectors.files.csv_format import FileFormat, UnreadableFile
from connectors.files.reader import assess, read_records, write_records
from connectors.retry import call_with_retry
from connectors.sftp import imports, remote
from connectors.sftp.hostkeys import client_key, parse_extras
from connectors.sftp.remote import classify  # noqa: F401 - re-exported for callers and tests
from core.connections import ConnectionInfo

log = logging.getLogger(__name__)
T = TypeVar("T")
_SHA256 = re.compile(r"^\s*([0-9a-fA-F]{64})\b")


class Settings(BaseModel):
    """The ``connector:`` block of an ``sftp_files`` system in config/hub.yaml."""

    model_config = ConfigDict(extra="forbid")

    id_column: str
    export_dir: str = "export"
    import_dir: str = "import"
    archive_dir: str = "archive"
    error_dir: str = "error"  # where a refused file goes, with <name>.reason.txt
    file_pattern: str = "customers-*.csv"
    ready: Literal["done_marker", "manifest", "stable_size"] = "done_marker"
    done_suffix: str = ".done"
    manifest_suffix: str = ".sha256"  # for ready=manifest: "<sha256 hex>  <name>"
    stable_seconds: float = Field(default=2.0, ge=0, le=600)  # for ready=stable_size
    import_prefix: str = "customers-import-"
    # where the system's import job moves the files it consumed, and those it refused:
    # settling after a crash looks there (default: processed/ and archive/, and error/, in
    # import_dir; a folder that does not exist holds nothing)
    import_done_dirs: list[str] | None = None
    import_error_dir: str | None = None
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    max_bad_row_share: float = Field(default=0.1, ge=0, le=1)  # per file, else it is refused
    page_size: int = Field(default=5000, ge=1, le=100_000)
    # each export lists every partner: one missing from it is a deletion candidate
    complete_export: bool = True
    file_format: FileFormat = FileFormat()  # used unless the constructor is given one


class SftpFilesConnector:
    """Source and sink for a system that exchanges CSV or XML files over SFTP (the ERP)."""

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
        self._ids_complete: dict[str, bool] = {}  # by ack_token: may the hub infer deletions

    def __repr__(self) -> str:
        return f"SftpFilesConnector(system={self.system!r}, where={self._where!r})"

    def session(self) -> AbstractContextManager[paramiko.SFTPClient]:
        """One SSH connection and SFTP channel, closed on exit; failures classified."""
        return remote.open_session(self._conn, self._extras, self._pkey,
                                   self.settings.timeout_seconds, self.system)

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

    # -- primitives (also what the benches measure) ----------------------------------------
    def fetch(self, remote_path: str, local: Path, expected_size: int | None = None) -> str:
        """Download ``remote_path`` to ``local`` in a fresh session, retried from scratch if
        the connection drops; returns the sha256 of exactly the bytes the listing promised."""
        def attempt() -> str:
            with self.session() as sftp:
                digest, size = remote.download(sftp, remote_path, local)
            if expected_size is not None and size != expected_size:
                raise TransientError(f"SFTP {self._where}: {remote_path} gave {size} bytes, "
                                     f"the listing said {expected_size}", system=self.system)
            return digest
        return self._retried(attempt)

    def put(self, local: Path, directory: str, name: str) -> None:
        """Upload as ``<name>.part``, check its size, rename it over ``<name>``; retried."""
        def attempt() -> None:
            with self.session() as sftp:
                remote.ensure_dir(sftp, directory)
                self._upload(sftp, local, f"{directory}/{name}")
        self._retried(attempt)

    def _upload(self, sftp: paramiko.SFTPClient, local: Path, final: str) -> None:
        part, size = final + imports.PART, local.stat().st_size
        sftp.put(str(local), part, confirm=False)
        remote_size = sftp.stat(part).st_size
        if remote_size != size:  # a short write must never be renamed into place
            sftp.remove(part)
            raise TransientError(f"SFTP {self._where}: {part} has {remote_size} bytes, "
                                 f"expected {size}", system=self.system)
        remote.replace(sftp, part, final)

    # -- reading ----------------------------------------------------------------------
    def read_pages(self, cursor: JsonDict | None) -> Iterator[Page]:
        """Pages of every complete export file, file by file in name order. ``cursor`` is
        not used: files leave the export folder when acknowledged, and the hub's file
        ledger knows their hashes."""
        with tempfile.TemporaryDirectory(prefix="custhub-sftp-") as tmp:
            for name, size, expected in self._retried(self._ready_files):
                local = Path(tmp) / name
                digest = self.fetch(f"{self.settings.export_dir}/{name}", local, size)
                yield from self._pages(name, local, digest, expected)
                local.unlink()  # one file on local disk at a time

    def _ready_files(self) -> list[tuple[str, int, str | None]]:
        """(name, size, expected sha256 or None) of each complete file, in name order."""
        s = self.settings
        with self.session() as sftp:
            seen = remote.listing(sftp, s.export_dir)
            names = sorted(n for n in seen if fnmatch.fnmatchcase(n, s.file_pattern))
            if s.ready == "done_marker":
                return [(n, seen[n][0], None) for n in names if n + s.done_suffix in seen]
            if s.ready == "manifest":
                return [(n, seen[n][0], self._manifest(sftp, n)) for n in names
                        if n + s.manifest_suffix in seen]
            time.sleep(s.stable_seconds)  # a file still being written changes size or mtime
            again = remote.listing(sftp, s.export_dir)
        return [(n, seen[n][0], None) for n in names if again.get(n) == seen[n]]

    def _manifest(self, sftp: paramiko.SFTPClient, name: str) -> str:
        path = f"{self.settings.export_dir}/{name}{self.settings.manifest_suffix}"
        found = _SHA256.match(remote.read_small(sftp, path).decode("ascii", "replace"))
        # an unreadable manifest cannot match any download: the file is refused, not lost
        return found.group(1).lower() if found else "unreadable manifest"

    def _pages(self, name: str, local: Path, digest: str, expected: str | None) -> Iterator[Page]:
        location = f"{self.settings.export_dir}/{name}"
        refusal = self._refusal(local, location, digest, expected, name)
        if refusal is not None:
            log.warning("%s: %s refused: %s", self.system, name, refusal.reason)
            yield Page(records=[], rejects=[refusal], source_name=name, content_hash=digest,
                       ack_token=name)
            return
        records: list[RawRecord] = []
        rejects: list[RejectedRow] = []
        for item in read_records(local, self.file_format, self.settings.id_column,
                                 source_name=location):
            (records if isinstance(item, RawRecord) else rejects).append(item)
            if len(records) + len(rejects) >= self.settings.page_size:
                yield Page(records, rejects=rejects, source_name=name, content_hash=digest)
                records, rejects = [], []
        yield Page(records, rejects=rejects, source_name=name, content_hash=digest,
                   ack_token=name)

    def _refusal(self, local: Path, location: str, digest: str, expected: str | None,
                 name: str) -> UnreadableFile | None:
        raw = f"{location} sha256={digest}"  # the quarantine keeps which file, not its bytes
        if expected is not None and expected != digest:
            return UnreadableFile(raw=raw, location=location, reason=(
                f"file refused: its sha256 {digest[:16]}… does not match the manifest "
                f"({expected[:16]}…)"))
        verdict = assess(local, self.file_format, self.settings.id_column,
                         source_name=location, max_bad_share=self.settings.max_bad_row_share)
        self._ids_complete[name] = verdict.ids_complete and verdict.refusal is None
        log.info("%s: %s: %d record(s), %d reject(s)", self.system, name, verdict.records,
                 verdict.rejects)
        if verdict.refusal is None:
            return None
        return UnreadableFile(raw=raw, location=location, reason=f"file refused: {verdict.refusal}")

    def complete_export(self, page: Page) -> bool:
        """Whether the file ``page`` ends lists every record of the system, so that a record
        missing from it may be taken for deleted (a file with a row whose id could not be
        read never is: that row may be the one that looks missing)."""
        return bool(self.settings.complete_export and page.ack_token
                    and self._ids_complete.get(page.ack_token, False))

    def acknowledge(self, page: Page) -> None:
        """Move the file, then its marker, out of the export folder (idempotent); a refused
        file goes to the error folder with a reason file next to it."""
        if not page.ack_token:
            return
        refusal = next((r for r in page.rejects if isinstance(r, UnreadableFile)), None)
        target = self.settings.error_dir if refusal else self.settings.archive_dir
        digest = page.content_hash or ""
        self._retried(lambda: self._move(page.ack_token or "", digest, target,
                                         refusal.reason if refusal else None))

    def _move(self, name: str, digest: str, target: str, reason: str | None) -> None:
        s = self.settings
        markers = {"done_marker": [s.done_suffix], "manifest": [s.manifest_suffix]}
        with self.session() as sftp:
            remote.ensure_dir(sftp, target)
            moved = remote.move_no_clobber(sftp, f"{s.export_dir}/{name}", target, digest)
            if reason is not None and moved is not None:
                remote.write_small(sftp, f"{target}/{moved}.reason.txt", reason.encode() + b"\n")
            for suffix in markers.get(s.ready, []):  # after the file: a lone marker is ignored
                if remote.exists(sftp, f"{s.export_dir}/{name}{suffix}"):
                    remote.replace(sftp, f"{s.export_dir}/{name}{suffix}",
                                   f"{target}/{moved or name}{suffix}")

    # -- writing ----------------------------------------------------------------------
    def write(self, writes: Sequence[Write], batch_id: str) -> WriteResult:
        """One import file per batch, named by its writes (``connectors.sftp.imports``)."""
        accepted, refused = imports.acceptable(writes, self.file_format)
        if not accepted:
            return WriteResult(applied=[], refused=refused)
        columns = imports.columns(self.settings.id_column, accepted)
        rows = [{**w.values, self.settings.id_column: w.record_id} for w in accepted]
        with tempfile.TemporaryDirectory(prefix="custhub-sftp-") as tmp:
            local = Path(tmp) / f"import{self._suffix()}"
            write_records(local, self.file_format, columns, rows)
            name = self._retried(lambda: self._put_import(local, batch_id,
                                                          imports.keys_tag(accepted)))
        log.info("%s: wrote %s (%d row(s)) to %s", self.system, name, len(rows), self._where)
        return WriteResult(applied=[w.idempotency_key for w in accepted], refused=refused)

    def _put_import(self, local: Path, batch_id: str, tag: str) -> str:
        s, suffix = self.settings, self._suffix()
        with self.session() as sftp:
            remote.ensure_dir(sftp, s.import_dir)
            name = imports.upload_name(sftp, s.import_dir, s.import_prefix, batch_id, tag, suffix)
            self._upload(sftp, local, f"{s.import_dir}/{name}")
        return name

    def settle(self, writes: Sequence[Write], since: datetime) -> WriteResult:
        """Whether the import file of ``writes`` (as one batch) arrived: waiting in the import
        folder or consumed (applied), or refused by the import job (refused). Names only are
        read; ``since`` is not needed, the name says which writes a file carries."""
        accepted, refused = imports.acceptable(writes, self.file_format)
        if not accepted:
            return WriteResult(refused=refused)
        found = self._retried(lambda: self._find_import(imports.keys_tag(accepted)))
        keys = [w.idempotency_key for w in accepted]
        if found is None:
            return WriteResult(refused=refused)
        folder, name = found
        if folder != self._error_dir():
            return WriteResult(applied=keys, refused=refused)
        reason = f"the import job refused {name} (see {folder}/)"
        return WriteResult(refused=refused + [WriteRefusal(k, reason) for k in keys])

    def _find_import(self, tag: str) -> tuple[str, str] | None:
        s = self.settings
        done = s.import_done_dirs
        if done is None:
            done = [f"{s.import_dir}/processed", f"{s.import_dir}/archive"]
        with self.session() as sftp:
            return imports.locate(sftp, [s.import_dir, *done, self._error_dir()],
                                  s.import_prefix, tag, self._suffix())

    def _error_dir(self) -> str:
        return self.settings.import_error_dir or f"{self.settings.import_dir}/error"

    def _suffix(self) -> str:
        return ".xml" if self.file_format.type == "xml" else ".csv"
