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

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.config import HubConfig
from hub.pipeline.context import open_store
from hub.store.db import session_scope
from hub.store.models import Outbox
from sandbox.estate import SandboxEstate
from tests.fixtures.crash import Reference, applied, config_file, contents, nightly, record_case, store_figures

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def crash_env(hub_config: HubConfig, sandbox_estate: SandboxEstate,
              tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    yield config_file(tmp_path), dict(os.environ)  # the fixtures put the estate and store there


def _outbox(hub_config: HubConfig) -> Counter[tuple[str, str]]:
    with session_scope(open_store(hub_config)) as session:
        return Counter({(s, st): n for s, st, n in session.execute(
            select(Outbox.system, Outbox.status, func.count()).group_by(Outbox.system,
                                                                        Outbox.status))})


def _crash_then_rerun(hub_config: HubConfig, estate: SandboxEstate, config: Path,
                      env: dict[str, str], fault: str,
                      jobs_between: bool = False) -> Counter[tuple[str, str]]:
    assert nightly(config, env, fault) == -signal.SIGKILL, f"{fault} was never reached"
    after_crash = _outbox(hub_config)
    if jobs_between:  # the systems' import jobs consume what reached them before the re-run
        estate.process_inbound()
    assert nightly(config, env) == 0
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
        uninterrupted: Reference, system: str, point: str, jobs_between: bool) -> None:
    after_crash = _crash_then_rerun(hub_config, sandbox_estate, *crash_env, f"{point}:{system}",
                                    jobs_between)

    assert after_crash[(system, "sending")] > 0  # the kill left that system's rows in flight
    row = record_case(f"sqlite kill at {point}:{system}{' (import jobs between)' * jobs_between}",
                      uninterrupted, sandbox_estate, store_figures(hub_config.store_url))
    assert (row["lost"], row["doubled"], row["left running"]) == (0, 0, 0), row
    assert applied(sandbox_estate) == uninterrupted.applied
    assert max(applied(sandbox_estate)[system].values()) == 1  # no record corrected twice
    assert contents(sandbox_estate) == uninterrupted.contents
    statuses = _outbox(hub_config)
    assert {status for _, status in statuses} == {"sent"}, statuses
    assert not list((sandbox_estate.erp.files_root / "import").rglob("*.part"))


@pytest.mark.parametrize("hub_store_url", ["postgresql"], indirect=True)
def test_on_postgresql_an_erp_file_sent_before_the_kill_is_not_sent_again(
        hub_config: HubConfig, sandbox_estate: SandboxEstate, crash_env: tuple[Path, dict[str, str]],
        uninterrupted: Reference) -> None:
    _crash_then_rerun(hub_config, sandbox_estate, *crash_env, "publish.after_send:erp",
                      jobs_between=True)

    assert applied(sandbox_estate) == uninterrupted.applied
    assert contents(sandbox_estate) == uninterrupted.contents
    assert len(list((sandbox_estate.erp.files_root / "import" / "processed").glob("*.csv"))) == 1
