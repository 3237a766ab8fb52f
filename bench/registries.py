"""Registry checks through the hub step (``check_registries``) against the sandbox ARES and VIES.

    python -m bench registries                 # 100,000 IČO for ARES, 5,000 VAT IDs for VIES
    python -m bench registries --scale 0.01

ARES: the hub step asks in bulk (1000 IČOs a request) and stores each answer as it arrives
(RegistryCheck rows; a canonical ARES record for each subject found). Next to it, in the same
run: the raw limit of the old way, one ``GET /ekonomicke-subjekty/{ico}`` per IČO over a kept
HTTP session and nothing stored (measured on a sample: at its rate 100k would take minutes), and
the raw bulk limit, the same search requests with nothing mapped or stored.
VIES: the hub step with the caps the sandbox enforces (2 in flight per member state, 8 in all,
as hub.yaml sets them), over 8 member states; next to it, one raw checkVat envelope POSTed at
a time. Rates are set high here: the bench measures the machinery, not the configured rate (the
production figure is then ``rate_per_second``, and the keys a run asks its ``budget_per_run``).
The sandboxes run in this process, so their own work (JSON and XML building) is in the figures.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from hub.config import HubConfig, load_config
from hub.pipeline.context import RunContext, build_connector, open_store
from hub.pipeline.registries import check_registries
from hub.pipeline.runs import start_run
from hub.store.db import session_scope
from hub.store.models import CanonicalRecord
from sandbox.ares_service import AresService, ares_subject
from sandbox.vies_service import ViesService

ARES_SIZE, VIES_SIZE, RAW_SAMPLE = 100_000, 5_000, 2_000
STATES = ("CZ", "DE", "SK", "AT", "PL", "FR", "IT", "NL")
_ENVELOPE = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
             'xmlns:urn="urn:ec.europa.eu:taxud:vies:services:checkVat:types"><soapenv:Body>'
             '<urn:checkVat><urn:countryCode>{}</urn:countryCode><urn:vatNumber>{}'
             '</urn:vatNumber></urn:checkVat></soapenv:Body></soapenv:Envelope>')


def ico(n: int) -> str:
    """The n-th IČO with a valid check digit (weights 8..2, mod 11)."""
    body = f"{n:07d}"
    total = sum(int(d) * w for d, w in zip(body, range(8, 1, -1), strict=True))
    return body + str((11 - total % 11) % 10)


def run(scale: float = 1.0) -> dict[str, float]:
    n_ares, n_vies = max(10, int(ARES_SIZE * scale)), max(10, int(VIES_SIZE * scale))
    icos = [ico(1_000_000 + n) for n in range(n_ares)]
    subjects = {i: ares_subject(i, f"Firma {i} s.r.o.", "112", "Dlouhá", 1, None, "Praha",
                                "110 00") for i in icos[::2]}  # half found, half not
    vat_ids = [f"{STATES[n % len(STATES)]}{10_000_000 + n}" for n in range(n_vies)]
    figures: dict[str, float] = {"ares_icos": n_ares, "vies_vat_ids": n_vies}
    with _environment_kept(), tempfile.TemporaryDirectory(prefix="custhub-bench-") as tmp, \
            _running(AresService(subjects)) as ares, \
            _running(ViesService({v: {"valid": True} for v in vat_ids[::2]},
                                 max_concurrent_per_country=2, max_concurrent_total=8)) as vies:
        _connections(ares, vies)
        figures |= _raw_ares(ares, icos[:min(RAW_SAMPLE, n_ares)])
        figures |= _raw_vies(vies, vat_ids[:min(RAW_SAMPLE // 4, n_vies)])
        config = _config(Path(tmp))
        figures |= _through_hub(config, "ares", "company_id", icos)
        figures |= _through_hub(config, "vies", "vat_id", vat_ids)
        figures["vies_refused_for_load"] = vies.gauge.refused.total() + vies.total.refused.total()
    _print(figures)
    return figures


@contextmanager
def _environment_kept() -> Iterator[None]:
    """The store URL and connections this bench sets are gone after it (other benches follow)."""
    kept = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(kept)


class _running:
    def __init__(self, service: Any):
        self.service = service

    def __enter__(self) -> Any:
        self.service.start()
        return self.service

    def __exit__(self, *_: object) -> None:
        self.service.stop()


def _connections(ares: AresService, vies: ViesService) -> None:
    for conn_id, port in (("custhub_ares", ares.port), ("custhub_vies", vies.port)):
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"})


def _config(tmp: Path) -> HubConfig:
    os.environ["CUSTHUB_STORE_URL"] = f"sqlite:///{tmp / 'hub.db'}"
    config = load_config()
    fast = {"rate_per_second": 1000, "budget_per_run": 10_000_000, "deadline_seconds": 3600}
    return config.model_copy(update={"registries": {
        name: block.model_copy(update=fast) for name, block in config.registries.items()
        if name in ("ares", "vies")}})


def _through_hub(config: HubConfig, registry: str, field: str, keys: list[str]
                 ) -> dict[str, float]:
    only = config.model_copy(update={"registries": {registry: config.registries[registry]}})
    engine = open_store(only)
    ctx = RunContext(only, engine, start_run(engine, "bench"))
    with session_scope(engine) as session:
        session.bulk_insert_mappings(CanonicalRecord, [
            {"system": "crm", "record_id": f"{registry}-{k}", "values": {"country": "CZ", field: k},
             "source_hash": "x", "run_id": ctx.run_id} for k in keys])
    build_connector(only, registry)  # Airflow's connection look-up imports Airflow: once, before
    started = time.perf_counter()
    counts = check_registries(ctx)
    seconds = time.perf_counter() - started
    answered = sum(v for k, v in counts.items() if k.split("_", 1)[1] in (
        "found", "not_found", "valid", "invalid"))
    return {f"{registry}_hub_s": seconds, f"{registry}_hub_keys_per_s": answered / seconds,
            f"{registry}_hub_answered": answered}


def _raw_ares(ares: AresService, sample: list[str]) -> dict[str, float]:
    session = requests.Session()
    started = time.perf_counter()
    for i in sample:
        session.get(f"{ares.url}/ekonomicke-subjekty/{i}", timeout=30)
    one = time.perf_counter() - started
    started = time.perf_counter()
    for n in range(0, len(sample), 1000):
        batch = sample[n:n + 1000]
        session.post(f"{ares.url}/ekonomicke-subjekty/vyhledat", timeout=60,
                     json={"ico": batch, "start": 0, "pocet": len(batch)}).json()
    bulk = time.perf_counter() - started
    return {"ares_raw_one_by_one_per_s": len(sample) / one,
            "ares_raw_bulk_per_s": len(sample) / bulk}


def _raw_vies(vies: ViesService, sample: list[str]) -> dict[str, float]:
    session = requests.Session()
    started = time.perf_counter()
    for v in sample:
        session.post(vies.url, data=_ENVELOPE.format(v[:2], v[2:]).encode(), timeout=30,
                     headers={"Content-Type": "text/xml; charset=utf-8"})
    return {"vies_raw_one_at_a_time_per_s": len(sample) / (time.perf_counter() - started)}


def _print(f: dict[str, float]) -> None:
    print(f"registries: ARES {f['ares_icos']:,.0f} IČOs through the hub step in bulk: "
          f"{f['ares_hub_keys_per_s']:,.0f} keys/s ({f['ares_hub_s']:.1f} s); raw one by one "
          f"{f['ares_raw_one_by_one_per_s']:,.0f}/s, raw bulk (nothing stored) "
          f"{f['ares_raw_bulk_per_s']:,.0f}/s")
    print(f"registries: VIES {f['vies_vat_ids']:,.0f} VAT IDs through the hub step, caps 2 per "
          f"state and 8 in all: {f['vies_hub_keys_per_s']:,.0f} keys/s ({f['vies_hub_s']:.1f} s, "
          f"{f['vies_refused_for_load']:,.0f} refused for load); raw checkVat one at a time "
          f"{f['vies_raw_one_at_a_time_per_s']:,.0f}/s")
