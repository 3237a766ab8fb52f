"""The run lease on each store backend: one holder, joined by its own run, taken over once expired."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, update

from hub.config import HubConfig
from hub.pipeline import lease
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.exclusive import exclusive
from hub.pipeline.runs import finish_run, run_status, start_run
from hub.store.models import RunLease

pytestmark = pytest.mark.integration


@pytest.fixture
def config(hub_config: HubConfig) -> HubConfig:
    return hub_config.model_copy(update={"lease": hub_config.lease.model_copy(update={"seconds": 1.5})})


@pytest.fixture
def engine(config: HubConfig) -> Engine:
    return open_store(config)


def test_one_holder_among_racing_runs(engine: Engine) -> None:
    def attempt(i: int) -> str:
        try:
            lease.take(engine, f"run-{i}", 60)
            return "took"
        except lease.RunLocked as e:
            return str(e)

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("took") == 1
    holder = lease.current(engine)
    assert all(f"run {holder.run_id} " in o for o in outcomes if o != "took")


def test_the_same_run_joins_and_renews_another_is_refused(engine: Engine) -> None:
    assert lease.take(engine, "A", 60) is None
    before = lease.current(engine).heartbeat_at
    time.sleep(0.05)
    assert lease.take(engine, "A", 60) is None  # a task of the same run, on any worker
    assert lease.current(engine).heartbeat_at > before
    with pytest.raises(lease.RunLocked, match="in use by run A"):
        lease.take(engine, "B", 60)
    lease.release(engine, "B")  # not the holder: nothing happens
    assert lease.current(engine).run_id == "A"
    lease.release(engine, "A")
    assert lease.current(engine) is None


def test_an_expired_lease_is_taken_over_once(engine: Engine) -> None:
    lease.take(engine, "dead", 0.2)
    time.sleep(0.3)
    assert lease.take(engine, "next", 60) == "dead"
    with pytest.raises(lease.RunLocked, match="in use by run next"):
        lease.take(engine, "third", 60)


def _ended_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def _holder_pid(engine: Engine, pid: int, host: str | None = None) -> None:
    with engine.begin() as conn:  # as if the holder had been that process, on that host
        conn.execute(update(RunLease).values(pid=pid, host=host or socket.gethostname()))


def test_a_process_bound_lease_whose_process_is_gone_is_taken_at_once(engine: Engine) -> None:
    lease.take(engine, "crashed", 600, process_bound=True)
    _holder_pid(engine, _ended_pid())
    assert lease.take(engine, "next", 600, process_bound=True) == "crashed"  # no waiting out 600 s
    assert lease.current(engine).run_id == "next"


def test_a_lease_is_kept_while_its_process_lives_or_cannot_be_seen(engine: Engine) -> None:
    lease.take(engine, "alive", 600, process_bound=True)
    with pytest.raises(lease.RunLocked, match="in use by run alive"):
        lease.take(engine, "next", 600)  # the holder is this very process
    _holder_pid(engine, _ended_pid(), host="another-host.example")
    with pytest.raises(lease.RunLocked, match="in use by run alive"):
        lease.take(engine, "next", 600)  # a pid on another host says nothing here


def test_an_airflow_runs_lease_outlives_its_task_processes(engine: Engine) -> None:
    lease.take(engine, "airflow-run", 600)  # a task of an Airflow run: not bound to its process
    _holder_pid(engine, _ended_pid())
    with pytest.raises(lease.RunLocked, match="in use by run airflow-run"):
        lease.take(engine, "cli-run", 600, process_bound=True)
    assert lease.take(engine, "airflow-run", 600) is None  # its next task, any pid, joins it


def test_waiting_takes_the_lease_when_it_is_released_and_gives_up_in_time(engine: Engine) -> None:
    lease.take(engine, "A", 60)
    started = time.monotonic()
    with pytest.raises(lease.RunLocked, match=r"waited 0.5 s"):
        lease.take_waiting(engine, "B", 60, wait=0.5)
    assert 0.5 <= time.monotonic() - started < 5
    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(lease.take_waiting, engine, "B", 60, 10)
        time.sleep(0.5)
        lease.release(engine, "A")
        assert later.result() is None
    assert lease.current(engine).run_id == "B"


def test_the_heartbeat_keeps_a_long_step_leased(config: HubConfig, engine: Engine) -> None:
    ctx = RunContext(config, engine, "long")
    with exclusive(ctx):
        start_run(engine, "nightly", run_id="long")
        time.sleep(config.lease.seconds * 2)  # a step longer than the lease
        with pytest.raises(lease.RunLocked, match="in use by run long"):
            lease.take(engine, "other", 60)
        finish_run(engine, "long", "succeeded")
    assert lease.current(engine) is None  # released when the run ended


def test_a_run_that_lost_its_lease_stops_at_the_next_step(config: HubConfig, engine: Engine) -> None:
    # a long lease: its heartbeat thread does not renew it while the test plays the stall
    slow = config.model_copy(update={"lease": config.lease.model_copy(update={"seconds": 120})})
    ctx = RunContext(slow, engine, "slow")
    with pytest.raises(lease.LeaseLost):
        with exclusive(ctx) as heartbeat:
            start_run(engine, "nightly", run_id="slow")
            with engine.begin() as conn:  # as if its heartbeat had stalled past the expiry
                conn.exec_driver_sql("UPDATE run_lease SET expires_at = '2000-01-01'")
            lease.take(engine, "taker", 60)
            heartbeat.beat()
    assert run_status(engine, "slow") == "failed"
    assert lease.current(engine).run_id == "taker"  # the taker's lease is left alone


def test_any_exception_ends_the_run_failed_and_releases(config: HubConfig, engine: Engine) -> None:
    ctx = RunContext(config, engine, "boom")
    with pytest.raises(KeyError):
        with exclusive(ctx):
            start_run(engine, "nightly", run_id="boom")
            raise KeyError("not a CusthubError")
    assert run_status(engine, "boom") == "failed"
    assert lease.current(engine) is None


def test_a_dead_runs_lease_expires_and_the_next_run_closes_it(config: HubConfig, engine: Engine) -> None:
    lease.take(engine, "dead", config.lease.seconds)
    start_run(engine, "nightly", run_id="dead")
    start_run(engine, "nightly", run_id="older")  # left running before leases existed
    with pytest.raises(lease.RunLocked):
        with exclusive(RunContext(config, engine, "early")):
            pass
    time.sleep(config.lease.seconds + 0.2)
    with exclusive(RunContext(config, engine, "next")):
        start_run(engine, "nightly", run_id="next")
        finish_run(engine, "next", "succeeded")
    assert [run_status(engine, r) for r in ("dead", "older", "next")] == ["abandoned"] * 2 + ["succeeded"]
    assert run_status(engine, "early") is None  # a refused run leaves no trace

