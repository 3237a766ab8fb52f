"""A nightly killed (SIGKILL) inside publish, then run again: every target gets each correction once.

For each target (CRM over SOAP, accounting's import table, the ERP's import files over SFTP) the
nightly runs as an operator starts it, ``custhub run nightly`` in its own process, and dies
between the target's write and the outbox mark (``publish.after_send:<system>``) or between
the claim and the write (``publish.after_claim:<system>``). A normal run follows, then the
systems' own import jobs. Compared with an uninterrupted run over an estate generated alike:
the same rows reach each system (ERP rows in processed import files, accounting import rows,
CRM versions), no correction twice, and every system ends with the same contents.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy import func, select

from hub.config import HubConfig
from hub.pipeline.context import open_store
from hub.store.db import session_scope
from hub.store.models import Outbox
from sandbox import accounting_db
from sandbox.erp_system import DELIMITER, ENCODING
from sandbox.estate import SandboxEstate

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "hub.yaml"
TIMESTAMPS = {"ModifiedAt", "updated_at"}  # the systems' own clocks: differ from run to run


def _config_file(folder: Path) -> Path:
    """config/hub.yaml with the reports written under ``folder``."""
    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    raw["report_dir"] = str(folder / "reports")
    path = folder / "hub.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _nightly(config: Path, env: dict[str, str], fault: str | None = None) -> int:
    """``custhub run nightly`` in its own process; its return code (-9 when a fault point hit)."""
    env = {**env, "PYTHONPATH": str(ROOT)}
    env.pop("CUSTHUB_FAULT_POINTS", None)
    if fault:
        env["CUSTHUB_FAULT_POINTS"] = fault
    done = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", "run",
                           "nightly", "--config", str(config)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, -signal.SIGKILL), done.stdout + done.stderr
    return done.returncode


def _estate_env(estate: SandboxEstate, store_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)
                for conn_id, conn in estate.connections().items()})
    env["CUSTHUB_STORE_URL"] = store_url
    return env


def _contents(estate: SandboxEstate) -> dict[str, Any]:
    """What each system holds, its own timestamps left out."""
    def plain(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
        return {str(r[key]): {k: v for k, v in r.items() if k not in TIMESTAMPS} for r in rows}
    return {"crm": plain(estate.crm.accounts(), "AccountId"),
            "accounting": plain(accounting_db.customers(estate.accounting), "customer_no"),
            "erp": plain(estate.erp.partners(), "PARTNER_ID")}


def _applied(estate: SandboxEstate) -> dict[str, Counter[str]]:
    """How often each record got a correction: rows of the ERP's processed import files,
    rows of accounting's import table, CRM versions past the first."""
    erp: Counter[str] = Counter()
    for path in sorted((estate.erp.files_root / "import" / "processed").glob("*.csv")):
        with open(path, encoding=ENCODING, newline="") as f:
            erp.update(row["PARTNER_ID"] for row in csv.DictReader(f, delimiter=DELIMITER))
    table = accounting_db.import_table
    with estate.accounting.connect() as conn:
        accounting = Counter({str(k): n for k, n in conn.execute(
            sa.select(table.c.customer_no, func.count()).group_by(table.c.customer_no))})
    crm = Counter({a["AccountId"]: int(a["Version"]) - 1 for a in estate.crm.accounts()
                   if int(a["Version"]) > 1})
    return {"crm": crm, "accounting": accounting, "erp": erp}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An estate generated as ``sandbox_estate`` is, after one nightly and the import jobs."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    with SandboxEstate(folder / "estate", n_companies=60, seed=11) as estate:
        env = _estate_env(estate, f"sqlite:///{folder / 'hub.db'}")
        assert _nightly(_config_file(folder), env) == 0
        estate.process_inbound()
        return {"contents": _contents(estate), "applied": _applied(estate)}


@pytest.fixture
def crash_env(hub_config: HubConfig, sandbox_estate: SandboxEstate,
              tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    yield _config_file(tmp_path), dict(os.environ)  # the fixtures put the estate and store there


def _outbox(hub_config: HubConfig) -> Counter[tuple[str, str]]:
    with session_scope(open_store(hub_config)) as session:
        return Counter({(s, st): n for s, st, n in session.execute(
            select(Outbox.system, Outbox.status, func.count()).group_by(Outbox.system,
                                                                        Outbox.status))})


def _crash_then_rerun(hub_config: HubConfig, estate: SandboxEstate, config: Path,
                      env: dict[str, str], fault: str,
                      jobs_between: bool = False) -> Counter[tuple[str, str]]:
    assert _nightly(config, env, fault) == -signal.SIGKILL, f"{fault} was never reached"
    after_crash = _outbox(hub_config)
    if jobs_between:  # the systems' import jobs consume what reached them before the re-run
        estate.process_inbound()
    assert _nightly(config, env) == 0
    estate.process_inbound()
    return after_crash


CASES = [pytest.param(system, point, between, id=f"{point}:{system}{'-jobs-between' * between}")
         for point, betweens in (("publish.after_send", (False, True)),
                                 ("publish.after_claim", (False,)))
         for system in ("crm", "accounting", "erp") for between in betweens]


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("system", "point", "jobs_between"), CASES)
def test_a_publish_killed_then_run_again_applies_each_correction_once(
        hub_config: HubConfig, sandbox_estate: SandboxEstate, crash_env: tuple[Path, dict[str, str]],
        uninterrupted: dict[str, Any], system: str, point: str, jobs_between: bool) -> None:
    after_crash = _crash_then_rerun(hub_config, sandbox_estate, *crash_env, f"{point}:{system}",
                                    jobs_between)

    assert after_crash[(system, "sending")] > 0  # the kill left that system's rows in flight
    assert _applied(sandbox_estate) == uninterrupted["applied"]
    assert max(_applied(sandbox_estate)[system].values()) == 1  # no record corrected twice
    assert _contents(sandbox_estate) == uninterrupted["contents"]
    statuses = _outbox(hub_config)
    assert {status for _, status in statuses} == {"sent"}, statuses
    assert not list((sandbox_estate.erp.files_root / "import").rglob("*.part"))


@pytest.mark.parametrize("hub_store_url", ["postgresql"], indirect=True)
def test_on_postgresql_an_erp_file_sent_before_the_kill_is_not_sent_again(
        hub_config: HubConfig, sandbox_estate: SandboxEstate, crash_env: tuple[Path, dict[str, str]],
        uninterrupted: dict[str, Any]) -> None:
    _crash_then_rerun(hub_config, sandbox_estate, *crash_env, "publish.after_send:erp",
                      jobs_between=True)

    assert _applied(sandbox_estate) == uninterrupted["applied"]
    assert _contents(sandbox_estate) == uninterrupted["contents"]
    assert len(list((sandbox_estate.erp.files_root / "import" / "processed").glob("*.csv"))) == 1
