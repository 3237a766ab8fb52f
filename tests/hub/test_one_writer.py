"""One writer per store, through the ``custhub`` command as processes, on SQLite and PostgreSQL:
two runs at once (one runs, the other refuses or waits), a run killed mid-way (closed as
abandoned by the next), a steward's approve while a run works."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from core.faults import FAULTS_ENV
from hub.config import HubConfig
from hub.pipeline import lease
from hub.pipeline.context import open_store
from hub.pipeline.runs import start_run
from hub.store.db import session_scope
from hub.store.models import Run
from sandbox.estate import SandboxEstate
from tests.hub.test_cli_errors import CUSTHUB, assert_one_line_error, custhub

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
LEASE_SECONDS = 3


def _config_file(hub_config: HubConfig, tmp_path: Path, lease_seconds: float = LEASE_SECONDS) -> Path:
    """hub.yaml as the fixtures built it, with a short lease so that a dead run's expires soon."""
    config = hub_config.model_copy(update={"lease": hub_config.lease.model_copy(
        update={"seconds": lease_seconds})})
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    open_store(config)  # the store exists (migrated) before the runs race for it
    return path


def _start(config: Path, cwd: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*CUSTHUB, "run", "nightly", "--config", str(config), *extra], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200", **(env or {})})


def _finish(procs: list[subprocess.Popen[str]]) -> list[subprocess.CompletedProcess[str]]:
    done = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def _runs(hub_config: HubConfig) -> list[Run]:
    with session_scope(open_store(hub_config)) as session:
        return list(session.scalars(select(Run).order_by(Run.started_at)))


def test_two_runs_at_once_one_runs_the_other_refuses(hub_config: HubConfig, sandbox_estate: SandboxEstate,
                                                     tmp_path: Path) -> None:
    config = _config_file(hub_config, tmp_path)
    results = _finish([_start(config, tmp_path), _start(config, tmp_path)])
    assert sorted(r.returncode for r in results) == [0, 1], [r.stderr[-2000:] for r in results]
    (run,) = _runs(hub_config)  # the refused run left no run behind
    assert run.status == "succeeded"
    refused = next(r for r in results if r.returncode == 1)
    assert_one_line_error(refused, f"in use by run {run.id}", "--wait")
    assert lease.current(open_store(hub_config)) is None


def test_with_wait_the_second_run_runs_after_the_first(hub_config: HubConfig, sandbox_estate: SandboxEstate,
                                                      tmp_path: Path) -> None:
    config = _config_file(hub_config, tmp_path)
    results = _finish([_start(config, tmp_path, "--wait", "--wait-timeout", "600")
                       for _ in range(2)])
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    first, second = _runs(hub_config)
    assert first.status == second.status == "succeeded"
    assert first.finished_at <= second.started_at  # one after the other, never both at once


def test_a_killed_run_is_closed_as_abandoned_by_the_next(hub_config: HubConfig, sandbox_estate: SandboxEstate,
                                                        tmp_path: Path) -> None:
    config = _config_file(hub_config, tmp_path, lease_seconds=3600)
    (killed,) = _finish([_start(config, tmp_path, env={FAULTS_ENV: "nightly.after_extract"})])
    assert killed.returncode == -signal.SIGKILL
    (dead,) = _runs(hub_config)
    assert dead.status == "running" and lease.current(open_store(hub_config)).run_id == dead.id
    # its lease has an hour left, but its process is gone from this host: the next run, not
    # even waiting, takes the store over at once
    (after,) = _finish([_start(config, tmp_path)])
    assert after.returncode == 0, after.stderr[-2000:]
    dead, nxt = _runs(hub_config)
    assert (dead.status, nxt.status) == ("abandoned", "succeeded")
    assert f"closed by run {nxt.id}" in dead.message
    assert not [r for r in _runs(hub_config) if r.status == "running"]


def test_approve_is_refused_while_another_run_holds_the_store(hub_config: HubConfig, tmp_path: Path) -> None:
    config = _config_file(hub_config, tmp_path)
    engine = open_store(hub_config)
    lease.take(engine, "working-run", 600)
    start_run(engine, "nightly", run_id="working-run")
    result = custhub("approve", "held-run", "--config", str(config), cwd=tmp_path)
    assert_one_line_error(result, "in use by run working-run (nightly")
    status = custhub("status", "--config", str(config), cwd=tmp_path)
    assert status.returncode == 0 and "Store lease: held by run working-run (nightly" in status.stdout


def test_a_terminated_run_ends_failed_and_releases_the_store(hub_config: HubConfig,
                                                             sandbox_estate: SandboxEstate,
                                                             tmp_path: Path) -> None:
    config = _config_file(hub_config, tmp_path)
    proc = _start(config, tmp_path)
    deadline = time.monotonic() + 120
    while not _runs(hub_config) and time.monotonic() < deadline:  # until the run has begun
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    (done,) = _finish([proc])
    assert_one_line_error(done, "stopped by SIGTERM")  # at the next step boundary
    (run,) = _runs(hub_config)
    assert run.status == "failed" and "stopped by SIGTERM" in (run.message or "")
    assert lease.current(open_store(hub_config)) is None
