"""Import files named by the writes they carry, and settled after a crash by looking at the ERP.

Over the sandbox paramiko SFTP server, with the sandbox ERP's own import job (sandbox.erp_system)
consuming the files: it moves what it applied to import/processed/ and what it refused to
import/error/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tenacity import Retrying, stop_after_attempt, wait_none

from connectors.base import Settleable, Write
from connectors.files.csv_format import FileFormat
from connectors.sftp.files import SftpFilesConnector
from connectors.sftp.imports import keys_tag
from core.connections import ConnectionInfo
from sandbox.erp_system import ErpSystem

pytestmark = pytest.mark.integration

ERP = FileFormat(encoding="cp1250", delimiter=";")
FAST = Retrying(stop=stop_after_attempt(2), wait=wait_none(), reraise=True)
NOW = datetime(2026, 12, 7, tzinfo=UTC)
BATCH = [Write("k1", "P1", {"NAZEV": "Dvořák a syn s.r.o."}), Write("k2", "P2", {"ICO": "27074358"})]


def _connector(conn: ConnectionInfo) -> SftpFilesConnector:
    settings = SftpFilesConnector.Settings(id_column="PARTNER_ID", timeout_seconds=5)
    return SftpFilesConnector("erp", settings, conn, file_format=ERP, retry_policy=FAST)


def _erp(root: Path) -> ErpSystem:
    erp = ErpSystem(root.parent / "erp-state.json", root)
    erp.load([{"PARTNER_ID": "P1", "NAZEV": "Dvorak"}, {"PARTNER_ID": "P2", "NAZEV": "Beta"}])
    return erp


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_the_same_writes_in_a_later_run_replace_their_waiting_file(sandbox_sftp) -> None:
    connector = _connector(sandbox_sftp.connection())
    told: list[int] = []  # one file: told once, when it is in place
    assert connector.write(BATCH, "20261207T010000-aaaaaa-erp", progress=told.append).applied == ["k1", "k2"]
    assert told == [2]
    # the re-run after a crash: a new batch id, the same rows (in another order)
    assert connector.write(BATCH[::-1], "20261208T010000-bbbbbb-erp").applied == ["k2", "k1"]
    assert _names(sandbox_sftp.files_root / "import") == [
        f"customers-import-20261207T010000-aaaaaa-erp-{keys_tag(BATCH)}.csv"]
    connector.write(BATCH[:1], "20261208T010000-bbbbbb-erp")  # other writes: another file
    assert len(_names(sandbox_sftp.files_root / "import")) == 2


def test_a_killed_uploads_part_is_removed_by_the_next_write_and_no_other(sandbox_sftp) -> None:
    imports = sandbox_sftp.files_root / "import"
    imports.mkdir()
    (imports / "customers-import-run1-erp-0123.csv.part").write_bytes(b"half a file")
    (imports / "orders-import-7.csv.part").write_bytes(b"not ours")
    _connector(sandbox_sftp.connection()).write(BATCH, "run2-erp")
    assert _names(imports) == [f"customers-import-run2-erp-{keys_tag(BATCH)}.csv",
                               "orders-import-7.csv.part"]


def test_settle_finds_the_file_waiting_consumed_or_refused(sandbox_sftp) -> None:
    root, connector = sandbox_sftp.files_root, _connector(sandbox_sftp.connection())
    erp = _erp(root)
    assert isinstance(connector, Settleable)
    assert connector.settle(BATCH, NOW).applied == []  # never sent: send it
    connector.write(BATCH, "run1-erp")
    assert connector.settle(BATCH, NOW).applied == ["k1", "k2"]  # waiting in import/
    assert erp.apply_imports() == 2
    assert _names(root / "import" / "processed") and not list((root / "import").glob("*.csv"))
    assert connector.settle(BATCH, NOW).applied == ["k1", "k2"]  # consumed: in processed/
    assert connector.settle(BATCH[:1], NOW).applied == []  # other writes, another file

    wrong = [Write("k3", "P1", {"UVEROVY_LIMIT": "150000.50"})]  # not the ERP's decimal comma
    connector.write(wrong, "run2-erp")
    assert erp.apply_imports() == 0
    result = connector.settle(wrong, NOW)
    assert result.applied == [] and [r.idempotency_key for r in result.refused] == ["k3"]
    assert "refused" in result.refused[0].reason and "import/error" in result.refused[0].reason
