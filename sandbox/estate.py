"""The sandbox estate: every simulated system on loopback, seeded once, persisted between runs.

The first start generates the companies (sandbox.generator) and loads them into the CRM
SOAP service, the accounting database, the ERP and the registries; later starts reopen the
same state, so that a second run meets the estate the first one left. Passwords are made
on first start and kept in a file of the estate, never in code.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sandbox import accounting_db
from sandbox.ares_service import AresService, ares_subject
from sandbox.crm_service import CrmService
from sandbox.erp_system import ErpSystem
from sandbox.generator import Estate, TrueCompany, generate
from sandbox.isir_service import IsirService, isir_proceeding
from sandbox.sftp_server import SftpServer
from sandbox.vies_service import ViesService

CONN_IDS = {"crm": "custhub_crm", "accounting": "custhub_accounting", "erp": "custhub_erp",
            "ares": "custhub_ares", "vies": "custhub_vies", "isir": "custhub_isir"}
CRM_USER, ERP_USER = "custhub", "custhub"


class SandboxEstate:
    def __init__(self, root: Path, n_companies: int = 200, seed: int = 7,
                 accounting: tuple[sa.Engine, dict[str, Any]] | None = None,
                 ports: dict[str, int] | None = None, host: str = "127.0.0.1") -> None:
        """``accounting``: another database for the accounting system (an engine to seed it
        through, and the Airflow connection the hub reaches it by); SQLite in the root by default.
        ``ports``: fixed loopback ports by service ("crm", "erp", "vies", "ares", "isir") for a
        long-lived estate that stored Airflow connections point at; by default the OS chooses."""
        self.root = Path(root)
        self.ports, self.host = dict(ports or {}), host  # host: 0.0.0.0 only inside a container
        self.n_companies, self.seed = n_companies, seed
        self.generated: Estate = generate(n_companies, seed)
        self._services: list[Any] = []
        self._accounting = accounting
        self.seed_seconds: dict[str, float] = {}  # how long each part of the start took

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SandboxEstate:
        fresh = not (self.root / "seeded").exists()
        self.root.mkdir(parents=True, exist_ok=True)
        self._secrets = self._load_secrets()
        self.crm = CrmService(str(self.root / "crm.sqlite"), CRM_USER, self._secrets["crm"])
        self.accounting = (self._accounting[0] if self._accounting
                           else sa.create_engine(f"sqlite:///{self.root / 'accounting.sqlite'}"))
        self.erp = ErpSystem(self.root / "erp-state.json", self.root / "erp")
        self.sftp = SftpServer(self.root / "erp", self.root / "sftp_host_key",
                               users={ERP_USER: self._secrets["erp"]})
        registry = self.generated.registry
        self.vies = self._timed("vies", lambda: ViesService(_vies_records(registry)))
        self.ares = self._timed("ares", lambda: AresService(_ares_subjects(registry)))
        self.isir = self._timed("isir", lambda: IsirService(_isir_proceedings(registry)))
        if fresh:
            self._seed()
        for name, service in (("crm", self.crm), ("erp", self.sftp), ("vies", self.vies),
                              ("ares", self.ares), ("isir", self.isir)):
            service.start(host=self.host, port=self.ports.get(name, 0))
            self._services.append(service)
        return self

    def stop(self) -> None:
        for service in reversed(self._services):
            service.stop()
        self._services.clear()
        self.accounting.dispose()

    def __enter__(self) -> SandboxEstate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _seed(self) -> None:
        self._timed("crm", lambda: self.crm.load(self.generated.crm_accounts))
        accounting_db.create_schema(self.accounting)
        self._timed("accounting", lambda: accounting_db.load(self.accounting, self.generated.accounting_rows))
        (self.root / "erp").mkdir(exist_ok=True)
        self._timed("erp", lambda: self.erp.load(self.generated.erp_partners))
        self._timed("erp_export", lambda: self.erp.export(_today()))
        (self.root / "seeded").write_text(datetime.now(UTC).isoformat())

    def _timed(self, part: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = work()
        self.seed_seconds[part] = time.perf_counter() - started
        return result

    def _load_secrets(self) -> dict[str, str]:
        path = self.root / "secrets.json"
        if not path.exists():
            path.write_text(json.dumps({"crm": secrets.token_urlsafe(16), "erp": secrets.token_urlsafe(16)}))
            path.chmod(0o600)
        return json.loads(path.read_text())

    # -- what the hub needs to reach it ------------------------------------------------------
    def connections(self) -> dict[str, dict[str, Any]]:
        """Airflow connections (as their JSON form) for every system of the estate."""
        http = {"conn_type": "http", "host": "127.0.0.1", "schema": "http"}
        return {
            CONN_IDS["crm"]: http | {"port": self.crm.port, "login": CRM_USER, "password": self._secrets["crm"]},
            CONN_IDS["accounting"]: self._accounting[1] if self._accounting else
            {"conn_type": "sqlite", "host": str(self.root / "accounting.sqlite")},
            CONN_IDS["erp"]: {"conn_type": "sftp", "host": "127.0.0.1", "port": self.sftp.port,
                              "login": ERP_USER, "password": self._secrets["erp"],
                              "extra": {"host_key": self.sftp.host_key_base64()}},
            CONN_IDS["ares"]: http | {"port": self.ares.port},
            # CZ100: the requester VAT ID VIES's test service (and this sandbox) takes as valid;
            # a real environment names its own company's VAT ID here or in hub.yaml.
            CONN_IDS["vies"]: http | {"port": self.vies.port, "extra": {"requester_vat_id": "CZ100"}},
            CONN_IDS["isir"]: http | {"port": self.isir.port},
        }

    def export_connections(self) -> None:
        for conn_id, conn in self.connections().items():
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)

    # -- the systems' own jobs -------------------------------------------------------------
    def process_inbound(self) -> dict[str, int]:
        """Each system's own import job: apply the files and rows the hub wrote, then the ERP
        exports its master data again, as it does every night."""
        applied = {"accounting": accounting_db.apply_imports(self.accounting),
                   "erp": self.erp.apply_imports()}
        if applied["erp"]:
            self.erp.export(_today())
        return applied

    def system_records(self) -> dict[str, list[dict[str, Any]]]:
        return {"crm": self.crm.accounts(), "accounting": accounting_db.customers(self.accounting),
                "erp": self.erp.partners()}


def _today():  # type: ignore[no-untyped-def]
    return datetime.now(UTC).date()


def _vies_records(registry: list[TrueCompany]) -> dict[str, dict[str, Any]]:
    records = {}
    for c in registry:
        if c.vat_id:
            # Germany discloses neither name nor address; VIES answers "---".
            disclosed = c.country != "DE"
            records[c.vat_id] = {"valid": c.vat_valid and c.dissolved_on is None,
                                 "name": c.name if disclosed else None,
                                 "address": f"{c.street}\n{c.postal_code} {c.city}" if disclosed else None}
    return records


def _ares_subjects(registry: list[TrueCompany]) -> dict[str, dict[str, Any]]:
    return {c.company_id: ares_subject(c.company_id, c.name, c.legal_form_code or "112", c.street_name,
                                       c.house_no, c.orientation_no, c.city, c.postal_code,
                                       dic=c.vat_id, dissolved_on=c.dissolved_on)
            for c in registry if c.company_id}


def _isir_proceedings(registry: list[TrueCompany]) -> dict[str, list[dict[str, Any]]]:
    rows = {c.company_id: _isir_rows(c.company_id, c) for c in registry if c.company_id}
    return {ico: found for ico, found in rows.items() if found}


def _isir_rows(ico: str, c: TrueCompany) -> list[dict[str, Any]]:
    """An insolvent company's ongoing bankruptcy; a dissolved one's bankruptcy, long dealt with,
    which ISIR still lists: its answer is "clear" and must not hide the dissolution."""
    if c.insolvent_since is not None:
        state, since = "KONKURS", c.insolvent_since
    elif c.dissolved_on is not None:
        state, since = "VYŘÍZENÁ", date(c.dissolved_on.year - 3, 3, 1)
    else:
        return []
    return [isir_proceeding(ico, c.name, state, number=int(ico) % 9000 + 100, year=since.year,
                            since=since)]
