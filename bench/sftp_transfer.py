"""SFTP throughput: download and upload of a 200 MB file over loopback against OpenSSH's sshd
(internal-sftp), next to OpenSSH's own ``sftp`` client moving the same file in the same run.

The connector's primitives are measured as the hub uses them: ``fetch`` (download to a local
file with its sha256) and ``put`` (upload as .part, size check, rename), host key pinned,
key login. The raw figure is ``sftp -b`` (batch mode, host key checked against known_hosts)
doing a ``get`` and a ``put`` of the same file; both clients run on this machine next to the
server, so encryption on both ends shares its cores.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bench._sshd import Sshd, openssh_sftp, running_sshd
from connectors.files.csv_format import FileFormat
from connectors.sftp.files import SftpFilesConnector
from core.connections import ConnectionInfo

SIZE_MB = 200


def _connector(server: Sshd) -> SftpFilesConnector:
    conn = ConnectionInfo(conn_id="bench", conn_type="sftp", host="127.0.0.1", port=server.port,
                          login=server.login, password=SecretStr(""), schema=None,
                          extra={"private_key": server.key_file.read_text(),
                                 "host_key": server.host_key_base64})
    settings = SftpFilesConnector.Settings(id_column="PARTNER_ID", timeout_seconds=60)
    return SftpFilesConnector("erp", settings, conn, file_format=FileFormat())


def _random_file(path: Path, megabytes: int) -> None:
    with open(path, "wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(2**20))  # incompressible


def _seconds(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def run(scale: float = 1.0) -> dict[str, float]:
    megabytes = max(1, int(SIZE_MB * scale))
    size = megabytes * 2**20
    with running_sshd() as server, tempfile.TemporaryDirectory(prefix="custhub-bench-") as tmp:
        for folder in ("export", "import", "raw"):
            (server.root / folder).mkdir()
        _random_file(server.root / "export" / "big.bin", megabytes)
        here = Path(tmp)
        connector = _connector(server)
        connector.test_connection()
        raw_get = _seconds(lambda: openssh_sftp(server, f"get /export/big.bin {here}/raw.bin\n"))
        raw_put = _seconds(lambda: openssh_sftp(server, f"put {here}/raw.bin /raw/big.bin\n"))
        get = _seconds(lambda: connector.fetch("/export/big.bin", here / "down.bin", size))
        put = _seconds(lambda: connector.put(here / "down.bin", "/import", "big.bin"))
        assert (server.root / "import" / "big.bin").stat().st_size == size
        assert (server.root / "raw" / "big.bin").stat().st_size == size
    return {"megabytes": megabytes,
            "connector get MB/s": megabytes / get, "raw OpenSSH sftp get MB/s": megabytes / raw_get,
            "get ratio to OpenSSH": raw_get / get,
            "connector put MB/s": megabytes / put, "raw OpenSSH sftp put MB/s": megabytes / raw_put,
            "put ratio to OpenSSH": raw_put / put}
