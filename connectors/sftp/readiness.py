"""When an export file is complete, what its control file promises, and whether it keeps it.

``ready`` (the connector's settings) says how a file proves it is complete:

- ``done_marker``: ``<name>.done`` exists and was written no earlier than the file's last
  change (a marker older than the file means the writer went on after announcing it). The
  marker may be empty or hold a line ``rows N``: the file's number of data rows.
- ``manifest``: ``<name>.sha256`` in sha256sum format (``<hex>  <name>``), optionally followed
  by a line ``rows N``; ``sha256sum -c`` still checks such a file (it warns about one
  improperly formatted line). The download must match the checksum.
- ``stable_size``: size and mtime unchanged across ``stable_seconds``.

Whatever the mode, the file must still be as listed (size and mtime) after the download,
and again when the hub is about to use it for deletions or move it away (``files.py``):
otherwise it is still being written and is left for the next run. ``judge`` then says
whether the downloaded file is what its control file promised and an export at all.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko

from connectors.files.reader import assess
from connectors.sftp import remote
from core.formats import FileFormat

if TYPE_CHECKING:
    from connectors.sftp.files import Settings

log = logging.getLogger(__name__)
_SHA256 = re.compile(r"^\s*([0-9a-fA-F]{64})\b")
_ROWS = re.compile(r"^\s*rows\s+(\S+)\s*$", re.IGNORECASE)

Stat = tuple[int, int]  # (size, mtime) as an SFTP listing gives them


@dataclass(frozen=True)
class Candidate:
    """A complete file, as listed, and what its control file promises."""

    name: str
    stat: Stat
    sha256: str | None = None  # the manifest's checksum
    rows: int | None = None  # data rows the manifest or marker announces
    problem: str | None = None  # an unreadable control file: the file is refused, not lost


def ready_files(sftp: paramiko.SFTPClient, s: Settings) -> list[Candidate]:
    """Every complete export file, in name order."""
    seen = remote.listing(sftp, s.export_dir)
    names = sorted(n for n in seen if fnmatch.fnmatchcase(n, s.file_pattern))
    if s.ready == "stable_size":
        time.sleep(s.stable_seconds)  # a file still being written changes size or mtime
        again = remote.listing(sftp, s.export_dir)
        return [Candidate(n, seen[n]) for n in names if again.get(n) == seen[n]]
    suffix = s.done_suffix if s.ready == "done_marker" else s.manifest_suffix
    ready = []
    for name in names:
        marker = seen.get(name + suffix)
        if marker is None:
            continue
        if s.ready == "done_marker" and marker[1] < seen[name][1]:
            log.warning("%s: its %s marker is older than the file: still being written, "
                        "left for the next run", name, suffix)
            continue
        text = remote.read_small(sftp, f"{s.export_dir}/{name}{suffix}")
        ready.append(_candidate(name, seen[name], text.decode("ascii", "replace"),
                                manifest=s.ready == "manifest"))
    return ready


def _candidate(name: str, stat: Stat, text: str, *, manifest: bool) -> Candidate:
    lines = [line for line in text.splitlines() if line.strip()]
    sha256, problem = None, None
    if manifest:
        found = _SHA256.match(lines[0]) if lines else None
        sha256 = found.group(1).lower() if found else None
        problem = None if found else "its manifest names no sha256 checksum"
    rows = [m.group(1) for line in lines if (m := _ROWS.match(line))]
    if len(rows) > 1 or (rows and not rows[0].isdigit()):
        return Candidate(name, stat, sha256, None, f"its control file's row count is unreadable "
                                                   f"({'; '.join(rows)[:40]!r})")
    return Candidate(name, stat, sha256, int(rows[0]) if rows else None, problem)


def judge(local: Path, entry: Candidate, digest: str, fmt: FileFormat, s: Settings,
          location: str) -> tuple[str | None, bool]:
    """(why the file is refused or None, whether every row's id was read)."""
    reason = _control_problem(entry, digest)
    if reason is not None:
        return reason, False
    verdict = assess(local, fmt, s.id_column, source_name=location,
                     max_bad_share=s.max_bad_row_share)
    log.info("%s: %d record(s), %d reject(s)", location, verdict.records, verdict.rejects)
    reason = verdict.refusal or _row_count_problem(verdict.rows, entry.rows)
    return reason, verdict.ids_complete and reason is None


def _control_problem(entry: Candidate, digest: str) -> str | None:
    if entry.problem is not None:
        return entry.problem
    if entry.sha256 is not None and entry.sha256 != digest:
        return f"its sha256 {digest[:16]}… does not match the manifest ({entry.sha256[:16]}…)"
    return None


def _row_count_problem(rows: int, announced: int | None) -> str | None:
    if announced is None or rows == announced:
        return None
    return f"it has {rows} data row(s), its control file announces {announced}"
