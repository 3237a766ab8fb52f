"""Exchange of whole files over SFTP: read complete exports, write import files atomically.

Reading, per export file, in name order:
1. pick it only once complete, as configured (``ready``, see ``readiness``): its done
   marker exists (no older than the file); or its manifest (``<name>.sha256``, sha256sum
   format) exists and names the checksum the download must match; or its size and mtime
   stay the same across ``stable_seconds``. A marker or manifest may announce ``rows N``;
2. download it to a temporary file in a fresh session, checking the byte count against the
   listing: a cut connection is retried from scratch, and half a file is never parsed; a
   file whose size or mtime changed meanwhile is still being written: left for next time;
3. assess it once (``connectors.files.reader.assess``): past ``max_bad_row_share`` of bad
   rows, not text, UTF-8 or mojibake where the spec says cp1250, another row count than
   announced, or unreadable as a whole, the file is refused: one page carrying the reason
   and no records, which moves it to ``error_dir`` with a ``.reason.txt`` when
   acknowledged, and ``FileRefusedError`` once every file is read;
4. otherwise stream it again in pages of ``page_size``; every page carries the file's
   content hash (the hub's file ledger key), only the last its ``ack_token``: the hub
   acknowledges that one once everything is stored, and only then does the file move to
   ``archive_dir`` (never over a different file: see ``remote.move_no_clobber``). A file
   that changed since it was read is neither used for deletions nor moved.

Writing: one import file per batch, uploaded as ``<name>.part``, its size checked, then
renamed over ``<name>`` (posix-rename where the server has it): the other side never sees
half a file. The name comes from the writes the file carries (``connectors.sftp.imports``):
a re-sent batch, in any run, replaces its own file instead of adding a second one, and
``settle`` finds it after a crash in the import folder or where the system's import job
moved it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeVar

import paramiko
from pydantic import BaseModel, ConfigDict, Field
from tenacity import Retrying

from connectors.base import (JsonDict, Page, Progress, RawRecord, RejectedRow, Write, WriteRefusal,
                             WriteResult)
from connectors.errors import (ConnectorConfigError, ConnectorError, FileRefusedError,
                               TransientError)
from connectors.files.csv_format import FileFormat, UnreadableFile
from connectors.files.reader import read_records, write_records
from connectors.retry import call_with_retry
from connectors.sftp import imports, remote
from connectors.sftp.hostkeys import client_key, parse_extras
from connectors.sftp.readiness import Candidate, judge, ready_files
from connectors.sftp.remote import classify  # noqa: F401 - re-exported for callers and tests
from core.connections import ConnectionInfo

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    # for ready=manifest: "<sha256 hex>  <name>", optionally a line "rows N" (readiness.py)
    manifest_suffix: str = ".sha256"
    # for ready=stable_size: size and mtime unchanged this long (a writer may pause for seconds)
    stable_seconds: float = Field(default=60.0, ge=0, le=600)
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
        self._listed: dict[str, Candidate] = {}  # files read, as listed: unchanged since?

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
    def fetch(self, remote_path: str, local: Path, expected_size: int | None = None,
              expected_mtime: int | None = None) -> str | None:
        """Download ``remote_path`` to ``local`` in a fresh session, retried from scratch if
        the connection drops; returns the sha256 of exactly the bytes the listing promised,
        or None when, given ``expected_mtime``, the file's size or mtime after the download
        differ from the listing's: it is still being written."""
        def attempt() -> str | None:
            with self.session() as sftp:
                digest, size = remote.download(sftp, remote_path, local)
                after = remote.stat(sftp, remote_path) if expected_mtime is not None else None
            if expected_mtime is not None and after != (expected_size, expected_mtime):
                return None
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
        ledger knows their hashes. A refused file's one page comes like any other (the hub
        quarantines its reason and acknowledges it into ``error_dir``); once every file is
        read, ``FileRefusedError`` names the refused ones: that system's problem."""
        refused: list[str] = []
        with tempfile.TemporaryDirectory(prefix="custhub-sftp-") as tmp:
            for entry in self._retried(self._ready_files):
                local = Path(tmp) / entry.name
                digest = self.fetch(f"{self.settings.export_dir}/{entry.name}", local,
                                    *entry.stat)
                self._listed[entry.name] = entry
                if digest is None:
                    log.warning("%s: %s changed while it was read: still being written, left "
                                "for the next run", self.system, entry.name)
                else:
                    for page in self._pages(entry, local, digest):
                        refused += [_short(entry.name, r.reason) for r in page.rejects
                                    if isinstance(r, UnreadableFile)]
                        yield page
                local.unlink(missing_ok=True)  # one file on local disk at a time
        if refused:
            more = f" (+{len(refused) - 1} more)" if len(refused) > 1 else ""
            raise FileRefusedError(f"export file refused, moved to {self.settings.error_dir}/ "
                                   f"with its reason: {refused[0]}{more}", system=self.system)

    def _ready_files(self) -> list[Candidate]:
        with self.session() as sftp:
            return ready_files(sftp, self.settings)

    def _pages(self, entry: Candidate, local: Path, digest: str) -> Iterator[Page]:
        name, location = entry.name, f"{self.settings.export_dir}/{entry.name}"
        refusal = self._refusal(local, entry, digest)
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

    def _refusal(self, local: Path, entry: Candidate, digest: str) -> UnreadableFile | None:
        location = f"{self.settings.export_dir}/{entry.name}"
        reason, self._ids_complete[entry.name] = judge(
            local, entry, digest, self.file_format, self.settings, location)
        if reason is None:
            return None
        raw = f"{location} sha256={digest}"  # the quarantine keeps which file, not its bytes
        return UnreadableFile(raw=raw, location=location, reason=f"file refused: {reason}")

    def complete_export(self, page: Page) -> bool:
        """Whether the file ``page`` ends lists every record of the system, so that a record
        missing from it may be taken for deleted: a file proven complete (``readiness``),
        every row's id read, and still exactly as it was read (one that grew since is still
        being written: it is neither used for deletions nor moved away)."""
        name = page.ack_token
        if not (self.settings.complete_export and name and self._ids_complete.get(name)):
            return False
        return self._retried(lambda: self._still_as_read(name))

    def _still_as_read(self, name: str) -> bool:
        with self.session() as sftp:
            return not self._changed(sftp, name)

    def _changed(self, sftp: paramiko.SFTPClient, name: str) -> bool:
        """Whether the file is no longer as it was listed and read (gone counts as not)."""
        listed = self._listed.get(name)
        now = remote.stat(sftp, f"{self.settings.export_dir}/{name}")
        if listed is None or now is None or now == listed.stat:
            return False
        log.warning("%s: %s changed after it was read (%s, now %s): not used for deletions "
                    "nor moved, left for the next run", self.system, name, listed.stat, now)
        self._ids_complete[name] = False
        return True

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
            if self._changed(sftp, name):
                return
            remote.ensure_dir(sftp, target)
            moved = remote.move_no_clobber(sftp, f"{s.export_dir}/{name}", target, digest)
            if reason is not None and moved is not None:
                remote.write_small(sftp, f"{target}/{moved}.reason.txt", reason.encode() + b"\n")
            for suffix in markers.get(s.ready, []):  # after the file: a lone marker is ignored
                if remote.exists(sftp, f"{s.export_dir}/{name}{suffix}"):
                    remote.replace(sftp, f"{s.export_dir}/{name}{suffix}",
                                   f"{target}/{moved or name}{suffix}")

    # -- writing ----------------------------------------------------------------------
    def write(self, writes: Sequence[Write], batch_id: str,
              progress: Progress | None = None) -> WriteResult:
        """One import file per batch, named by its writes (``connectors.sftp.imports``);
        ``progress`` is told once, when the file is in place."""
        result = self._write_file(writes, batch_id)
        if progress is not None:
            progress(len(writes))
        return result

    def _write_file(self, writes: Sequence[Write], batch_id: str) -> WriteResult:
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


def _short(name: str, reason: str) -> str:
    """A refusal in a few words for the one-line error; the reason file has it all."""
    return f"{name}: {reason.removeprefix('file refused: ').split('; first: ')[0][:200]}"
