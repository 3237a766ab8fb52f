"""CRM write-back throughput over SOAP: batches of 200 next to one call per account, and next to
the raw limit measured in the same run.

    python -m bench crm_write                   # 100,000 accounts
    python -m bench crm_write --scale 0.1       # 10,000

The sandbox CRM is bulk-loaded and served from its own process (``bench._crm_server``), then:

- batches: ``CrmSoapConnector.write`` as publish calls it, every account changed (conditional on
  its Version), ``UpsertAccounts`` calls of 200 with one result per account;
- one by one: the same connector with ``write_operation="UpsertAccount"`` (the single upsert, as
  before batches) on the first ``ONE_BY_ONE`` accounts only: at a few hundred a second the full
  set would take minutes and teach nothing more;
- raw HTTP: ``UpsertAccounts`` envelopes of 200 built by zeep beforehand and POSTed with
  requests, the answers not parsed: what the CRM and the loopback take, the ceiling of any client.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from lxml import etree

from bench._crm_server import address, crm_serving, zeep_service
from bench.crm_extract import accounts
from connectors.base import Write
from connectors.soap.crm import CrmSoapConnector, Settings
from core.connections import ConnectionInfo

FULL_SIZE = 100_000
BATCH = 200
ONE_BY_ONE = 1_000


def run(n: int | None = None, scale: float = 1.0) -> dict[str, float]:
    """Load ``n`` accounts (default 100,000 x ``scale``), write them back each way."""
    n = n if n is not None else max(BATCH, int(FULL_SIZE * scale))
    single = min(n, ONE_BY_ONE)
    with crm_serving(accounts(n)) as crm:
        cpu, server_cpu = time.process_time(), crm.cpu_s()
        batch_s = _write(crm.conn, _writes(n, "Brno", 1), "UpsertAccounts")
        cpu, server_cpu = time.process_time() - cpu, crm.cpu_s() - server_cpu
        single_s = _write(crm.conn, _writes(single, "Plzeň", 2), "UpsertAccount")
        versions = {a["AccountId"]: a["Version"] for a in crm.store.all()}
        raw_s = _raw_post(crm.conn, versions)
        ended = {a["Version"] for a in crm.store.all()}
    # Version 1 loaded, +1 by the batches, +1 by one-by-one (the first ones), +1 by raw HTTP
    if ended != ({4} if single == n else {3, 4}):
        raise RuntimeError(f"accounts ended at versions {sorted(ended)}")
    figures = {"accounts": float(n), "connector_batch_records_per_s": n / batch_s,
               "connector_one_by_one_records_per_s": single / single_s,
               "raw_http_post_records_per_s": n / raw_s,
               # CPU per account in the batches, on each side (see crm_extract)
               "connector_batch_cpu_us_per_record": cpu / n * 1e6,
               "crm_server_batch_cpu_us_per_record": server_cpu / n * 1e6}
    print(f"crm_write: {n:,} accounts: connector in batches of {BATCH} {n / batch_s:,.0f} "
          f"records/s ({batch_s:.1f} s); one call per account {single / single_s:,.0f}/s "
          f"(first {single:,}); raw limit in this run: HTTP POST of the same batches "
          f"{n / raw_s:,.0f}/s; CPU per account in batches: connector {cpu / n * 1e6:.0f} us, "
          f"CRM {server_cpu / n * 1e6:.0f} us")
    return figures


def _writes(n: int, city: str, version: int) -> list[Write]:
    return [Write(f"{city}-{i}", f"CRM-{i:07d}", {"City": city}, str(version)) for i in range(n)]


def _write(conn: ConnectionInfo, writes: list[Write], operation: str) -> float:
    connector = CrmSoapConnector("crm", Settings(write_operation=operation), conn)
    connector.test_connection()  # WSDL parsed and session warm before the clock starts
    started = time.perf_counter()
    result = connector.write(writes, batch_id="bench")
    elapsed = time.perf_counter() - started
    if len(result.applied) != len(writes):
        raise RuntimeError(f"{operation}: {len(result.refused)} refused, e.g. {result.refused[:1]}")
    return elapsed


def _raw_post(conn: ConnectionInfo, versions: dict[str, int]) -> float:
    """Every account changed once more, in envelopes of 200 POSTed as they are."""
    client, service = zeep_service(conn)
    session, ids, elapsed = requests.Session(), sorted(versions), 0.0
    for start in range(0, len(ids), BATCH):
        items = [{"account": {"AccountId": i, "City": "Olomouc"}, "expectedVersion": versions[i]}
                 for i in ids[start:start + BATCH]]
        envelope = etree.tostring(client.create_message(service, "UpsertAccounts", item=items))
        started = time.perf_counter()
        response = session.post(address(conn), data=envelope,
                                timeout=60, headers={"Content-Type": "text/xml; charset=utf-8"})
        elapsed += time.perf_counter() - started
        _check(response, len(items))
    return elapsed


def _check(response: Any, sent: int) -> None:
    if response.status_code != 200 or response.content.count(b"success>true<") != sent:
        raise RuntimeError(f"raw UpsertAccounts: HTTP {response.status_code}, not all applied")
