"""The fault-injection suite: a nightly killed (SIGKILL) at every step boundary, and two nightlies
started at once, each compared with an uninterrupted run over an estate generated alike.

Every case runs ``custhub run nightly`` as an operator does, in its own process, on the real
sandbox services (CRM over SOAP, accounting over SQL, the ERP over SFTP, the registries), with
the fault point named in ``CUSTHUB_FAULT_POINTS`` (core/faults.py). The next run sees that the
dead run's process is gone, takes its lease over, closes it as abandoned and finishes the work;
then the systems' own
import jobs run. Each case asserts 0 records lost, 0 corrections doubled or missing in any system
(ERP import rows, accounting import rows, CRM versions), no run left running, and every system
holding what the uninterrupted run left. The counts are printed at the end of the session.
Kills between a target's write and its outbox mark are in test_publish_crash.py.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from hub.config import HubConfig
from sandbox.estate import SandboxEstate
from tests.fixtures.crash import (Reference, config_file, nightly, nightly_process, record_case,
                                  store_figures)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

STEP_POINTS = [
    "extract.after_page:crm",  # a page stored, its cursor with it
    "extract.after_page:accounting",
    "extract.after_page:erp",  # a file stored, not yet moved to archive/
    "nightly.after_extract:erp",  # staged, not mapped
    "nightly.after_extract",  # every system staged and mapped
    "registries.after_answer@3",  # some registry answers kept, the rest not asked
    "nightly.after_registries",
    "nightly.after_reconcile",  # golden records and outbox rows written, nothing sent
    "publish.after_send:crm",  # the CRM's corrections sent, not yet marked
    "nightly.before_finish",  # everything sent, the run not closed
]
ON_POSTGRESQL = ["extract.after_page:erp", "nightly.after_reconcile", "publish.after_send:erp",
                 "nightly.before_finish"]
CASES = ([pytest.param("sqlite", p, id=f"sqlite-{p}") for p in STEP_POINTS]
         + [pytest.param("postgresql", p, id=f"postgresql-{p}") for p in ON_POSTGRESQL])


def _assert_as_uninterrupted(row: dict, reference: Reference, store_url: str) -> None:
    assert (row["lost"], row["corrections missing"], row["doubled"], row["left running"]) == (0, 0, 0, 0), row
    assert row["systems equal"], row
    figures = store_figures(store_url)
    assert figures.outbox == reference.store.outbox  # every correction made once, and sent
    assert figures.quarantined == reference.store.quarantined


@pytest.mark.parametrize(("hub_store_url", "point"), CASES, indirect=["hub_store_url"])
def test_a_nightly_killed_at_a_step_boundary_then_run_again_loses_and_doubles_nothing(
        hub_config: HubConfig, hub_store_url: str, sandbox_estate: SandboxEstate, tmp_path: Path,
        uninterrupted: Reference, point: str) -> None:
    config, env = config_file(tmp_path), dict(os.environ)  # the fixtures put the estate and store there
    assert nightly(config, env, point) == -signal.SIGKILL, f"{point} was never reached"
    assert nightly(config, env) == 0
    sandbox_estate.process_inbound()

    row = record_case(f"{hub_store_url.split(':')[0].split('+')[0]} kill at {point}", uninterrupted, sandbox_estate,
                      store_figures(hub_store_url))
    _assert_as_uninterrupted(row, uninterrupted, hub_store_url)
    assert store_figures(hub_store_url).runs == Counter(abandoned=1, succeeded=1)


@pytest.mark.parametrize("hub_store_url", ["sqlite", "postgresql"], indirect=True)
def test_two_nightlies_started_at_once_run_one_after_the_other(
        hub_config: HubConfig, hub_store_url: str, sandbox_estate: SandboxEstate, tmp_path: Path,
        uninterrupted: Reference) -> None:
    config, env = config_file(tmp_path), dict(os.environ)
    first, second = nightly_process(config, env), nightly_process(config, env)
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), outputs
    sandbox_estate.process_inbound()

    row = record_case(f"{hub_store_url.split(':')[0].split('+')[0]} two runs at once", uninterrupted, sandbox_estate,
                      store_figures(hub_store_url))
    _assert_as_uninterrupted(row, uninterrupted, hub_store_url)
    assert store_figures(hub_store_url).runs == Counter(succeeded=2)
