"""CRM extraction throughput: accounts per second through zeep, over loopback, page size 500.

    python -m bench crm_extract                 # 100,000 accounts
    python -m bench crm_extract --scale 0.05    # 5,000
    python -c "from bench.crm_extract import run; run(20_000)"

The sandbox CRM is bulk-loaded (one executemany) and then read by ``CrmSoapConnector.read_pages``
exactly as the hub reads it: WS-Security digest on every call, hardened zeep parsing, the retry
layer. Half the accounts share one ModifiedAt second, so the keyset paging is exercised too.
The figure includes the sandbox server's own work (SQLite and XML building) on the same machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.soap.crm import CrmSoapConnector, Settings
from core.connections import ConnectionInfo
from sandbox.crm_service import CrmService

FULL_SIZE = 100_000
PAGE_SIZE = 5000
_USER, _PASSWORD = "bench", "bench-secret"


def accounts(n: int) -> list[dict[str, Any]]:
    return [{"AccountId": f"CRM-{i:07d}", "Name": f"Firma {i} s.r.o.", "CompanyId": f"{i:08d}",
             "VatId": f"CZ{i:08d}", "Street": f"Dlouhá {i % 300 + 1}", "City": "Praha",
             "PostalCode": "110 00", "CountryCode": "CZ", "Email": f"info{i}@firma.cz",
             "Phone": "+420 777 000 111",
             "ModifiedAt": f"2024-05-01T10:{(i // 1000) % 60:02d}:00Z" if i % 2 else
             "2024-05-01T09:00:00Z"} for i in range(n)]


def run(n: int | None = None, scale: float = 1.0) -> dict[str, float]:
    """Load ``n`` accounts (default 100,000 x ``scale``), read them all, print records/s."""
    n = n if n is not None else max(1, int(FULL_SIZE * scale))
    with tempfile.TemporaryDirectory() as tmp:
        service = CrmService(str(Path(tmp) / "crm.sqlite"), _USER, _PASSWORD)
        started = time.perf_counter()
        service.load(accounts(n))
        load_s = time.perf_counter() - started
        service.start()
        try:
            read, read_s, pages = _read_all(service.port)
        finally:
            service.stop()
    if read != n:
        raise RuntimeError(f"read {read} accounts, loaded {n}")
    figures = {"accounts": float(n), "pages": float(pages), "load_s": load_s, "read_s": read_s,
               "records_per_s": n / read_s}
    print(f"crm_extract: {n:,} accounts in {pages} pages of {PAGE_SIZE} through zeep: "
          f"{n / read_s:,.0f} records/s ({read_s:.1f} s; bulk load {load_s:.1f} s)")
    return figures


def _read_all(port: int) -> tuple[int, float, int]:
    conn = ConnectionInfo(conn_id="bench_crm", conn_type="http", host="127.0.0.1", port=port,
                          login=_USER, password=SecretStr(_PASSWORD), schema="http", extra={})
    connector = CrmSoapConnector("crm", Settings(page_size=PAGE_SIZE), conn)
    connector.test_connection()  # WSDL parsed and session warm before the clock starts
    started = time.perf_counter()
    read = pages = 0
    for page in connector.read_pages(None):
        read, pages = read + len(page.records), pages + 1
    return read, time.perf_counter() - started, pages
