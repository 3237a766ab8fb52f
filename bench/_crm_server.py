"""The sandbox CRM for the CRM benches: bulk-loaded here, served from its own process.

A production CRM runs on its own machine. Served from a thread of the bench's process, the
sandbox would share the interpreter lock with the connector it is measuring, and each side's
Python work would wait for the other's; in its own process it works while the connector reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.soap import http_session, zeep_client
from connectors.soap.crm import NS, WSDL, Settings
from connectors.soap.security import username_token
from core.connections import ConnectionInfo
from sandbox.crm_service import AccountStore, CrmService

USER, PASSWORD = "bench", "bench-secret"


@dataclass(frozen=True)
class Crm:
    store: AccountStore  # the CRM's own SQLite file, read here to check what it holds
    conn: ConnectionInfo
    load_s: float
    pid: int

    def cpu_s(self) -> float:
        """CPU seconds the CRM's process has used (user + system; Linux /proc): how much work it
        does, whatever else the machine runs."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def crm_serving(accounts: list[dict[str, Any]]) -> Iterator[Crm]:
    """A CRM holding ``accounts``, listening on a loopback port until the block ends."""
    with tempfile.TemporaryDirectory(prefix="custhub-bench-crm-") as tmp:
        db = str(Path(tmp) / "crm.sqlite")
        store = AccountStore(db)
        started = time.perf_counter()
        store.load(accounts)
        load_s = time.perf_counter() - started
        # stdin open: the server runs until it closes; stdout: the port, once it listens
        server = subprocess.Popen([sys.executable, "-m", "bench._crm_server", db],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            port = int(server.stdout.readline())
            conn = ConnectionInfo(conn_id="bench_crm", conn_type="http", host="127.0.0.1",
                                  port=port, login=USER, password=SecretStr(PASSWORD),
                                  schema="http", extra={})
            yield Crm(store, conn, load_s, server.pid)
        finally:
            server.stdin.close()
            server.wait(timeout=30)


def zeep_service(conn: ConnectionInfo) -> tuple[Any, Any]:
    """A plain zeep client (no plugin) as the connector configures it, and its service."""
    client = zeep_client(WSDL, http_session(conn), Settings(),
                         wsse=username_token(conn.login, conn.password))
    return client, client.create_service(f"{{{NS}}}CrmAccountBinding", address(conn))


def address(conn: ConnectionInfo) -> str:
    return f"http://{conn.host}:{conn.port}/crm/soap"


def _serve(db: str) -> None:
    service = CrmService(db, USER, PASSWORD)
    print(service.start(), flush=True)
    sys.stdin.read()  # until the bench closes it
    service.stop()


if __name__ == "__main__":
    _serve(sys.argv[1])
