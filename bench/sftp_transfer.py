"""SFTP throughput: download and upload of a 200 MB file over loopback (the sandbox server).

Measured through the connector's own primitives (``fetch``: download to a temporary file
with its sha256; ``put``: upload as .part, size check, rename), host key pinned. The server
is paramiko's, in this same process, so the figures are a floor: OpenSSH's sftp-server on
the other end is faster.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from connectors.files.csv_format import FileFormat
from connectors.sftp.files import SftpFilesConnector
from core.connections import ConnectionInfo
from sandbox.sftp_server import SftpServer

SIZE_MB = 200


def _connector(server: SftpServer, password: str) -> SftpFilesConnector:
    conn = ConnectionInfo(conn_id="bench", conn_type="sftp", host=server.host, port=server.port,
                          login="bench", password=SecretStr(password), schema=None,
                          extra={"host_key": server.host_key_base64()})
    settings = SftpFilesConnector.Settings(id_column="PARTNER_ID", timeout_seconds=60)
    return SftpFilesConnector("erp", settings, conn, file_format=FileFormat())


def _random_file(path: Path, megabytes: int) -> None:
    with open(path, "wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(2**20))  # incompressible, though SSH here does not compress


def run(scale: float = 1.0) -> dict[str, float]:
    megabytes = max(1, int(SIZE_MB * scale))
    with tempfile.TemporaryDirectory(prefix="custhub-bench-") as tmp:
        root, password = Path(tmp) / "sftp", os.urandom(8).hex()
        (root / "export").mkdir(parents=True)
        _random_file(root / "export" / "big.bin", megabytes)
        with SftpServer(root, Path(tmp) / "host_key", users={"bench": password}) as server:
            connector = _connector(server, password)
            started = time.perf_counter()
            connector.fetch("export/big.bin", Path(tmp) / "down.bin", megabytes * 2**20)
            down = time.perf_counter() - started
            started = time.perf_counter()
            connector.put(Path(tmp) / "down.bin", "import", "big.bin")
            up = time.perf_counter() - started
        assert (root / "import" / "big.bin").stat().st_size == megabytes * 2**20
    return {"megabytes": megabytes, "download_mb_per_s": megabytes / down,
            "upload_mb_per_s": megabytes / up}
