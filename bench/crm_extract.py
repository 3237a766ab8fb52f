"""CRM extraction throughput over SOAP, next to the raw limits measured in the same run.

    python -m bench crm_extract                 # 100,000 accounts
    python -m bench crm_extract --scale 0.1     # 10,000
    python -c "from bench.crm_extract import run; run(20_000)"

The sandbox CRM is bulk-loaded and served from its own process (``bench._crm_server``), then:

- connector: ``CrmSoapConnector.read_pages`` exactly as the hub reads (WS-Security digest on every
  call, zeep for the envelope and faults, lxml for the accounts, pages of 5,000 fetched one ahead);
- raw HTTP: the same requests POSTed one after another with requests, bodies kept, not parsed: what
  the CRM and the loopback can serve, the ceiling of any client reading in page order;
- lxml: those same response bytes parsed by lxml with the hardened parser, nothing more: the
  ceiling of any XML client on this machine;
- zeep: the previous reading, zeep deserialising every account (first pages only, it is slow).

Half the accounts share one ModifiedAt second, so keyset paging over ties is exercised too.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from lxml import etree
from zeep.helpers import serialize_object

from bench._crm_server import address, crm_serving, zeep_service
from connectors.soap.crm import CrmSoapConnector, Settings, _raw_record
from core.connections import ConnectionInfo

FULL_SIZE = 100_000
PAGE_SIZE = 5000
ZEEP_SAMPLE = PAGE_SIZE  # accounts read the old way (one page), for comparison
Position = tuple[Any, str | None]  # (modifiedAfter, afterId) of one request


def accounts(n: int) -> list[dict[str, Any]]:
    return [{"AccountId": f"CRM-{i:07d}", "Name": f"Firma {i} s.r.o.", "CompanyId": f"{i:08d}",
             "VatId": f"CZ{i:08d}", "Street": f"Dlouhá {i % 300 + 1}", "City": "Praha",
             "PostalCode": "110 00", "CountryCode": "CZ", "Email": f"info{i}@firma.cz",
             "Phone": "+420 777 000 111",
             "ModifiedAt": f"2024-05-01T10:{(i // 1000) % 60:02d}:00Z" if i % 2 else
             "2024-05-01T09:00:00Z"} for i in range(n)]


def run(n: int | None = None, scale: float = 1.0) -> dict[str, float]:
    """Load ``n`` accounts (default 100,000 x ``scale``), read them each way, print records/s."""
    n = n if n is not None else max(1, int(FULL_SIZE * scale))
    with crm_serving(accounts(n)) as crm:
        cpu, server_cpu = time.process_time(), crm.cpu_s()
        read_s, positions = _connector_read(crm.conn, n)
        cpu, server_cpu = time.process_time() - cpu, crm.cpu_s() - server_cpu
        bodies, fetch_s = _raw_fetch(crm.conn, positions)
        sample = min(n, ZEEP_SAMPLE)
        zeep_s = _zeep_read(crm.conn, sample)
    parse_s = _lxml_parse(bodies)
    figures = {"accounts": float(n), "pages": float(len(bodies)), "load_s": crm.load_s,
               "connector_records_per_s": n / read_s,
               "raw_http_fetch_records_per_s": n / fetch_s,
               "lxml_parse_records_per_s": n / parse_s,
               "zeep_deserialise_records_per_s": sample / zeep_s,
               # CPU per account, on each side: the throughput two idle cores allow is about
               # 1e6 / the larger of the two (the CRM builds a page while we read the last)
               "connector_cpu_us_per_record": cpu / n * 1e6,
               "crm_server_cpu_us_per_record": server_cpu / n * 1e6}
    print(f"crm_extract: {n:,} accounts in {len(bodies)} pages of {PAGE_SIZE}: connector "
          f"{n / read_s:,.0f} records/s; raw limits in this run: HTTP fetch of the same pages "
          f"{n / fetch_s:,.0f}/s, lxml parse of the same bytes {n / parse_s:,.0f}/s; "
          f"zeep deserialising every account {sample / zeep_s:,.0f}/s; CPU per account: "
          f"connector {cpu / n * 1e6:.1f} us, CRM {server_cpu / n * 1e6:.1f} us")
    return figures


def _connector_read(conn: ConnectionInfo, n: int) -> tuple[float, list[Position]]:
    """Seconds to read every account, and the position each request started from."""
    connector = CrmSoapConnector("crm", Settings(page_size=PAGE_SIZE), conn)
    connector.test_connection()  # WSDL parsed and session warm before the clock starts
    started = time.perf_counter()
    read, positions = 0, [(None, None)]
    for page in connector.read_pages(None):
        read += len(page.records)
        positions.append((page.cursor["start"], page.cursor["key"]))
    elapsed = time.perf_counter() - started
    if read != n:
        raise RuntimeError(f"read {read} accounts, loaded {n}")
    return elapsed, positions[:-1]  # the last page said no more follow


def _raw_fetch(conn: ConnectionInfo, positions: list[Position]) -> tuple[list[bytes], float]:
    """The connector's requests, each built by zeep (a fresh token) and POSTed by requests."""
    client, service = zeep_service(conn)
    session, bodies, elapsed = requests.Session(), [], 0.0
    for after, key in positions:
        envelope = etree.tostring(client.create_message(
            service, "GetAccountsModifiedSince", modifiedAfter=after, afterId=key,
            pageSize=PAGE_SIZE))
        started = time.perf_counter()
        response = session.post(address(conn), data=envelope, timeout=60,
                                headers={"Content-Type": "text/xml; charset=utf-8"})
        bodies.append(response.content)
        elapsed += time.perf_counter() - started
        response.raise_for_status()
    return bodies, elapsed


def _lxml_parse(bodies: list[bytes]) -> float:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True)
    started = time.perf_counter()
    for body in bodies:
        etree.fromstring(body, parser)
    return time.perf_counter() - started


def _zeep_read(conn: ConnectionInfo, sample: int) -> float:
    """The first ``sample`` accounts, every one deserialised by zeep (the reading before lxml)."""
    _, service = zeep_service(conn)
    started = time.perf_counter()
    reply = service.GetAccountsModifiedSince(pageSize=sample)
    [_raw_record(serialize_object(a, dict)) for a in reply.accounts.account]
    return time.perf_counter() - started
