"""Import files the hub writes for a system: named by the writes they carry, found after a crash.

A file is named ``<prefix><batch>-<keys><suffix>``:

- ``<batch>``, the batch id made file-safe (the hub's run id comes first in it), keeps the
  files in the order they were written: the system's import job takes them by name;
- ``<keys>``, a hash of the sorted idempotency keys the file carries, is the same for the same
  writes in any run. A file still waiting in the import folder with the same ``<keys>`` holds
  the same writes: a re-send replaces it under its own name instead of adding a second file.

After a crash between the upload and the hub's record of it, ``find`` looks for ``<keys>`` in
the import folder (received, not yet consumed), where the import job puts consumed files
(received and applied) and where it puts refused ones. Only names are read, never contents.

An upload goes to ``<name>.part`` first and is renamed into place when complete; a ``.part``
of ours left by a killed upload is removed by the next write to the folder (``stale_parts``).
The folder is the hub's to write: one hub store, one writer (its run lease).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

import paramiko

from connectors.base import Write, WriteRefusal
from connectors.files.csv_format import FileFormat, encodable
from connectors.sftp import remote

PART = ".part"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_KEYS_HEX = 20  # 80 bits: no two batches of a store will ever share it


def keys_tag(writes: Sequence[Write]) -> str:
    """The same for the same set of idempotency keys, whatever their order or repeats."""
    keys = sorted({w.idempotency_key for w in writes})
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:_KEYS_HEX]


def file_name(prefix: str, batch_id: str, tag: str, suffix: str) -> str:
    return f"{prefix}{file_safe(batch_id)}-{tag}{suffix}"


def find(names: Iterable[str], prefix: str, tag: str, suffix: str) -> str | None:
    """The name among ``names`` of the import file that carries the writes tagged ``tag``."""
    end = f"-{tag}{suffix}"
    return next((n for n in sorted(names) if n.startswith(prefix) and n.endswith(end)), None)


def stale_parts(names: Iterable[str], prefix: str) -> list[str]:
    """Our own half-uploaded files (a killed upload's): never renamed into place, never read."""
    return sorted(n for n in names if n.startswith(prefix) and n.endswith(PART))


def upload_name(sftp: paramiko.SFTPClient, directory: str, prefix: str, batch_id: str, tag: str,
                suffix: str) -> str:
    """The name to upload the file tagged ``tag`` to: the name of a waiting file that carries
    the same writes, else a new one. Our ``.part`` files left by a killed upload go first."""
    names = list(remote.listing(sftp, directory))
    for stale in stale_parts(names, prefix):
        sftp.remove(f"{directory}/{stale}")
    return find(names, prefix, tag, suffix) or file_name(prefix, batch_id, tag, suffix)


def locate(sftp: paramiko.SFTPClient, folders: Sequence[str], prefix: str, tag: str,
           suffix: str) -> tuple[str, str] | None:
    """(folder, name) of the first of ``folders`` holding the file tagged ``tag``."""
    for folder in folders:
        try:
            names = sftp.listdir(folder)
        except FileNotFoundError:  # the import job has not made this folder: it holds nothing
            continue
        if (name := find(names, prefix, tag, suffix)) is not None:
            return folder, name
    return None


def file_safe(batch_id: str) -> str:
    """``batch_id`` as a file name part; one that had to be changed gets a hash suffix so
    two different batches can never share a file."""
    safe = _SAFE_NAME.sub("_", batch_id)
    if safe == batch_id:
        return safe
    return f"{safe}-{hashlib.sha256(batch_id.encode()).hexdigest()[:8]}"


def columns(id_column: str, writes: Sequence[Write]) -> list[str]:
    """The id column, then every column any write sets, in order of first appearance."""
    found = dict.fromkeys([id_column])
    for w in writes:
        found.update(dict.fromkeys(w.values))
    return list(found)


def acceptable(writes: Sequence[Write], file_format: FileFormat) -> tuple[list[Write],
                                                                          list[WriteRefusal]]:
    """The writes a file in ``file_format`` can carry, and the others refused with a reason."""
    accepted, refused = [], []
    for w in writes:
        text = "".join([w.record_id, *("" if v is None else str(v) for v in w.values.values())])
        if not w.record_id.strip():
            refused.append(WriteRefusal(w.idempotency_key, "empty record id"))
        elif not encodable(file_format, text):
            reason = f"a value cannot be written in {file_format.encoding}"
            refused.append(WriteRefusal(w.idempotency_key, reason))
        else:
            accepted.append(w)
    return accepted, refused
