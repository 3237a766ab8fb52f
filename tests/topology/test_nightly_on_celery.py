"""nightly_batch on the production topology (sandbox.prod_local: PostgreSQL, Redis, api-server,
scheduler, DAG processor, triggerer, two Celery workers, the estate in its own process), triggered
through the REST API as an operator or the scheduler does, never dag.test().

The first night spreads its tasks over both workers; in the middle of the CRM's publish (two
corrections written, the third in flight) the worker running it is killed with SIGKILL, all its
processes at once, as a host dies. Airflow declares the task dead, retries it on the other worker,
the retry joins the same hub run, and the night ends as an uninterrupted one does: the systems
hold the golden values, every CRM correction written exactly once (0 lost, 0 doubled). A second
night, the killed worker back, changes nothing: no golden record, CRM account or correction more. The review page and the alert webhook are checked
on the same topology. The figures (trigger to finish, tasks and task seconds per worker, the time
a dead worker's task takes to run again) are printed: pytest -s shows them.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy import select

from hub.config import HubConfig, load_config
from hub.pipeline.context import open_store
from hub.store.db import session_scope
from hub.store.models import (CanonicalRecord, GoldenRecord, Outbox, ReviewItem, Run, StewardDecision,
                              Xref)
from sandbox.estate import SandboxEstate
from tests.airflow.test_nightly_batch import _snapshot
from tests.e2e.test_nightly_over_sandbox import _wrong_fields
from tests.topology.conftest import Running

# One topology for the module: its tests run in order on one xdist worker (--dist loadscope,
# pyproject.toml; tests/test_suite_distribution.py checks it), each night after the last.
pytestmark = [pytest.mark.integration, pytest.mark.airflow, pytest.mark.e2e, pytest.mark.timeout(1500)]

DAG = "nightly_batch"


@pytest.fixture(scope="module")
def estate(topology: Running) -> Iterator[SandboxEstate]:
    """The topology's estate opened again in this process, on the same files (with servers of its
    own on free ports): to read what each system holds and run the systems' import jobs."""
    with SandboxEstate(topology.estate_root) as opened:
        yield opened


@pytest.fixture
def hub_config(topology: Running, monkeypatch: pytest.MonkeyPatch) -> HubConfig:
    """The topology's hub.yaml and hub store, for reading the store from the test."""
    monkeypatch.setenv("CUSTHUB_CONFIG", str(topology.config))
    monkeypatch.setenv("CUSTHUB_STORE_URL", topology.topology.plans["airflow-scheduler"].env["CUSTHUB_STORE_URL"])
    return load_config()


def _worker_hosts(topology: Running) -> dict[str, str]:
    """task instance hostname -> worker process name (sandbox.prod_local.node_hostname)."""
    return {f"{socket.getfqdn()}-{topology.topology.plans[name].env['CUSTHUB_NODE']}": name
            for name in topology.topology.worker_names()}


def _crm_versions(estate: SandboxEstate) -> dict[str, int]:
    return {a["AccountId"]: int(a["Version"]) for a in estate.crm.accounts()}


def _wait_until_held(topology: Running, run_id: str, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not topology.gate.held.wait(timeout=2):
        state = topology.api.run_state(DAG, run_id)
        assert state not in ("success", "failed"), (state, _summary(topology.api.task_instances(DAG, run_id)))
        assert time.monotonic() < deadline, "the CRM's publish never reached its third write"


def _summary(tis: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(t["task_id"], t["map_index"], t["state"], t["try_number"], t["hostname"]) for t in tis]


def _figures(label: str, tis: list[dict[str, Any]], hosts: dict[str, str], seconds: float) -> dict[str, Any]:
    per_worker: dict[str, list[float]] = defaultdict(list)
    for ti in tis:
        if ti["hostname"]:
            per_worker[hosts.get(ti["hostname"], ti["hostname"])].append(float(ti["duration"] or 0))
    figures = {"trigger_to_finish_s": round(seconds, 1),
               "tasks": {w: len(d) for w, d in sorted(per_worker.items())},
               "task_seconds": {w: round(sum(d), 1) for w, d in sorted(per_worker.items())},
               "slowest_task_s": round(max(float(t["duration"] or 0) for t in tis), 1)}
    print(f"figures {label}: {figures}")
    return figures


def _hub_run(config: HubConfig, run_id: str) -> tuple[Run, list[Outbox]]:
    with session_scope(open_store(config)) as session:
        runs = list(session.scalars(select(Run).where(Run.external_id == f"{DAG}/{run_id}")))
        assert len(runs) == 1, "one Airflow run is one hub run"
        rows = list(session.scalars(select(Outbox).where(Outbox.run_id == runs[0].id)))
        session.expunge_all()
    return runs[0], rows


def test_a_night_on_two_workers_survives_one_killed_mid_publish(
        topology: Running, estate: SandboxEstate, hub_config: HubConfig) -> None:
    api, hosts = topology.api, _worker_hosts(topology)
    assert _wrong_fields(hub_config, estate), "the generated estate should start with drift"
    before = _crm_versions(estate)
    api.wait_for_dag(DAG)
    topology.gate.hold_after(2)  # the third UpsertAccount stays in flight
    triggered = time.monotonic()
    run_id = api.trigger(DAG)
    _wait_until_held(topology, run_id)
    crm = hub_config.enabled_systems().index("crm")
    publishing = api.task_instance(DAG, run_id, "publish", crm)
    assert publishing["state"] == "running", publishing
    victim = hosts[publishing["hostname"]]
    killed = topology.topology.kill(victim)
    killed_at = datetime.now(UTC)
    topology.gate.release()
    state = api.wait_for_run(DAG, run_id)
    seconds = time.monotonic() - triggered
    tis = api.task_instances(DAG, run_id)
    assert state == "success", _summary(tis)

    # Its tasks ran on both workers; the killed publish was retried on the other one.
    assert set(hosts) <= {t["hostname"] for t in tis}, _summary(tis)
    tries = api.tries(DAG, run_id, "publish", crm)
    assert [(hosts[t["hostname"]], t["state"]) for t in tries][-1][1] == "success", tries
    assert hosts[tries[-1]["hostname"]] != victim and tries[-1]["try_number"] >= 2, tries
    # The retry joined the same hub run, and the night is what an uninterrupted one leaves:
    # every CRM correction written exactly once, nothing else touched, every system at the truth.
    run, rows = _hub_run(hub_config, run_id)
    assert run.status == "succeeded", run.message
    corrected = {r.record_id for r in rows if r.system == "crm"}
    assert len(corrected) > 2 and {r.status for r in rows} == {"sent"}
    after = _crm_versions(estate)
    assert {k: after[k] - before[k] for k in corrected} == {k: 1 for k in corrected}
    assert [k for k in before if k not in corrected and after[k] != before[k]] == []
    estate.process_inbound()
    assert _wrong_fields(hub_config, estate) == []
    retried = datetime.fromisoformat(tries[-1]["start_date"].replace("Z", "+00:00"))
    print(f"figures kill: {victim} killed ({len(killed)} processes) in publish[crm]; the retry "
          f"started on {hosts[tries[-1]['hostname']]} {(retried - killed_at).total_seconds():.0f} s later")
    _figures("night with a kill", tis, hosts, seconds)


def test_the_next_night_on_both_workers_again_changes_nothing(
        topology: Running, estate: SandboxEstate, hub_config: HubConfig) -> None:
    """A night with nothing to correct, the killed worker back: no golden record, CRM account or
    correction more."""
    api, hosts = topology.api, _worker_hosts(topology)
    _respawn_dead_workers(topology)  # the worker the first test killed
    before, golden_before = _crm_versions(estate), _current_golden(hub_config)
    triggered = time.monotonic()
    run_id = api.trigger(DAG)
    state = api.wait_for_run(DAG, run_id)
    seconds = time.monotonic() - triggered
    tis = api.task_instances(DAG, run_id)
    assert state == "success", _summary(tis)
    assert set(hosts) <= {t["hostname"] for t in tis}, _summary(tis)
    run, rows = _hub_run(hub_config, run_id)
    assert run.status == "succeeded" and [r for r in rows if r.system == "crm"] == []
    assert _crm_versions(estate) == before
    assert _current_golden(hub_config) == golden_before
    estate.process_inbound()
    assert _wrong_fields(hub_config, estate) == []
    _figures("quiet night", tis, hosts, seconds)
    print(f"figures memory: {_rss_mb(topology)}")


def test_a_night_with_its_reconcile_worker_killed_ends_as_an_uninterrupted_one(
        topology: Running, estate: SandboxEstate, hub_config: HubConfig) -> None:
    """Five CRM accounts change their street (the CRM speaks for the street: the new one becomes
    golden and goes to the other systems); the night's reconcile is held at its last write
    (a PostgreSQL lock on reconcile_state, taken by the test: reads go on, the write waits) with
    its work done and not committed; the worker running it is killed with SIGKILL. The retry, on
    the other worker, joins the hub run and the night ends with every system at the truth and
    each correction sent once."""
    api, hosts = topology.api, _worker_hosts(topology)
    _respawn_dead_workers(topology)
    accounts = sorted(estate.crm.accounts(), key=lambda a: a["AccountId"])[:5]
    estate.crm.load([{**a, "Street": f"Nová {index + 10}", "Version": int(a["Version"]) + 1, "ModifiedAt": None}
                     for index, a in enumerate(accounts)])
    store = sa.create_engine(topology.topology.plans["airflow-scheduler"].env["CUSTHUB_STORE_URL"])
    with store.connect() as blocker:
        blocker.execute(sa.text("LOCK TABLE reconcile_state IN EXCLUSIVE MODE"))  # held until closed
        run_id = api.trigger(DAG)
        _wait_for_lock_wait(store, topology, run_id)
        reconciling = api.task_instance(DAG, run_id, "reconcile", -1)
        assert reconciling["state"] == "running", reconciling
        victim = hosts[reconciling["hostname"]]
        topology.topology.kill(victim)
        blocker.rollback()
    store.dispose()
    state = api.wait_for_run(DAG, run_id)
    tis = api.task_instances(DAG, run_id)
    assert state == "success", _summary(tis)
    tries = api.tries(DAG, run_id, "reconcile", -1)
    assert hosts[tries[-1]["hostname"]] != victim and tries[-1]["try_number"] >= 2, tries
    run, rows = _hub_run(hub_config, run_id)
    assert run.status == "succeeded", run.message
    assert rows and {r.status for r in rows} == {"sent"}, [(r.system, r.status) for r in rows]
    assert len({r.idempotency_key for r in rows}) == len(rows)
    estate.process_inbound()
    # Every system holds the truth but for the five new streets, which every system now holds.
    truth, streets = estate.generated.truth, {f"Nová {index + 10}" for index in range(5)}
    moved = {truth.records[("crm", a["AccountId"])] for a in accounts}
    receiving = [s for s, block in hub_config.systems.items() if "street" in block.receives]
    records = [k for k, company in truth.records.items() if company in moved and k[0] in receiving
               and k not in truth.broken]
    wrong = _wrong_fields(hub_config, estate)
    new = [w for w in wrong if " street: " in w and w.split(" street: ")[1].split(" != ")[0].strip("'") in streets]
    assert (len(new), [w for w in wrong if w not in new]) == (len(records), []), wrong
    print(f"figures reconcile kill: {victim} killed in reconcile; {len(rows)} corrections, each sent once")


def _wait_for_lock_wait(store: sa.Engine, topology: Running, run_id: str, timeout: float = 900) -> None:
    """Until a session of the hub store waits for the test's lock: the reconcile at its last write."""
    database = store.url.database
    deadline = time.monotonic() + timeout
    while True:
        with store.connect() as conn:
            waiting = conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                                          "AND wait_event_type = 'Lock'"), {"db": database})
        if waiting:
            return
        state = topology.api.run_state(DAG, run_id)
        assert state not in ("success", "failed"), (state, _summary(topology.api.task_instances(DAG, run_id)))
        assert time.monotonic() < deadline, "the reconcile never reached its last write"
        time.sleep(1)


BACKFILL = ("2026-03-02", "2026-03-05")  # three nightly slots of hub.yaml's schedule


def test_a_three_day_backfill_run_twice_changes_nothing(
        topology: Running, estate: SandboxEstate, hub_config: HubConfig) -> None:
    """``airflow backfill create`` as an operator types it, on the scheduler's node: three
    nights, one per data interval, each its own hub run; the same backfill again, re-running
    the completed nights, leaves the hub store, the systems and the ERP's files as they were."""
    _respawn_dead_workers(topology)
    first = _backfill(topology, "none")
    assert len(first) == 3, first
    before = _snapshot(topology.topology.plans["airflow-scheduler"].env["CUSTHUB_STORE_URL"], estate)
    again = _backfill(topology, "completed")
    assert sorted(again) == sorted(first), "the repeat re-ran the same Airflow runs"
    after = _snapshot(topology.topology.plans["airflow-scheduler"].env["CUSTHUB_STORE_URL"], estate)
    for part in before:
        assert after[part] == before[part], f"{part} changed on the second backfill"
    for run_id in first:  # each night its own hub run, joined, not doubled, by its repeat
        run, _ = _hub_run(hub_config, run_id)
        assert run.status == "succeeded", run.message
        start = topology.api.task_instance(DAG, run_id, "start", -1)
        assert start["state"] == "skipped" and start["try_number"] >= 2, start


def _backfill(topology: Running, reprocess: str, timeout: float = 1200) -> list[str]:
    """Create the backfill with Airflow's CLI, wait until it completes; its runs' ids."""
    topology.api.call("PATCH", f"/dags/{DAG}", json={"is_paused": False})  # backfills need it
    done = topology.topology.airflow("backfill", "create", "--dag-id", DAG, "--from-date", BACKFILL[0],
                                     "--to-date", BACKFILL[1], "--reprocess-behavior", reprocess)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    backfill = max(topology.api.call("GET", "/backfills", params={"dag_id": DAG})["backfills"],
                   key=lambda b: b["id"])
    deadline = time.monotonic() + timeout
    while topology.api.call("GET", f"/backfills/{backfill['id']}")["completed_at"] is None:
        assert time.monotonic() < deadline, f"backfill {backfill['id']} did not complete"
        time.sleep(3)
    runs = [r for r in topology.api.call("GET", f"/dags/{DAG}/dagRuns", params={"limit": 100})["dag_runs"]
            if r["run_type"] == "backfill"]
    failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
    assert failed == [], [_failure(topology.api, run_id) for run_id in failed]
    return [r["dag_run_id"] for r in runs]


def _failure(api: Any, run_id: str) -> dict[str, Any]:
    """A failed run's failed tasks with the end of each one's log, for the assertion message."""
    failed = [t for t in api.task_instances(DAG, run_id) if t["state"] in ("failed", "upstream_failed")]
    logs = {}
    for t in failed:
        if t["state"] == "failed":
            answer = api.session.get(f"{api.base}/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/"
                                     f"{t['task_id']}/logs/{t['try_number']}", params={"map_index": t["map_index"]},
                                     headers={"Accept": "text/plain"}, timeout=60)
            logs[t["task_id"]] = answer.text[-3000:]
    return {"run": run_id, "tasks": _summary(failed), "logs": logs}


def _respawn_dead_workers(topology: Running) -> None:
    for name in topology.topology.worker_names():
        if topology.topology.processes[name].poll() is not None:
            topology.topology.respawn(name)


def _current_golden(config: HubConfig) -> dict[str, tuple[int, Any]]:
    """hub id -> (version, values) of each current golden record; two current ones is a failure."""
    with session_scope(open_store(config)) as session:
        rows = list(session.execute(select(GoldenRecord.hub_id, GoldenRecord.version, GoldenRecord.values)
                                    .where(GoldenRecord.is_current.is_(True))))
    golden = {hub_id: (version, values) for hub_id, version, values in rows}
    assert len(golden) == len(rows), "a golden record with two current versions"
    return golden


def _rss_mb(topology: Running) -> dict[str, int]:
    """Resident memory of each process of the topology with its children (MB), for sizing."""
    import psutil

    sizes = {}
    for name, process in topology.topology.processes.items():
        tree = psutil.Process(process.pid)
        sizes[name] = round(sum(p.memory_info().rss for p in [tree, *tree.children(recursive=True)]) / 2**20)
    return sizes


def test_the_review_page_in_the_api_server_answers_a_steward_and_refuses_a_viewer(
        topology: Running, hub_config: HubConfig) -> None:
    """The plugin mounted by the topology's api-server (compose's plugins mount), on the hub
    store the nights filled, with one more open question, behind Airflow's login."""
    item = _open_question(hub_config)
    steward, viewer = (_browser(topology, user) for user in ("steward", "viewer"))
    queue = steward.get(f"{topology.topology.ui}/custhub/", timeout=60)
    assert queue.status_code == 200 and "signed in as <b>steward</b>" in queue.text
    page = steward.get(f"{topology.topology.ui}/custhub/items/{item}", timeout=60)
    assert page.status_code == 200 and 'method="post"' in page.text
    read = viewer.get(f"{topology.topology.ui}/custhub/items/{item}", timeout=60)
    assert read.status_code == 200 and 'method="post"' not in read.text and "Read only" in read.text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', read.text)
    assert csrf is not None
    refused = viewer.post(f"{topology.topology.ui}/custhub/items/{item}/resolve", allow_redirects=False,
                          data={"csrf": csrf.group(1), "action": "dismiss", "reason": "only a viewer"},
                          timeout=60)
    assert refused.status_code == 403 and "not decide" in refused.text
    with session_scope(open_store(hub_config)) as session:
        assert session.scalar(select(StewardDecision.id).where(StewardDecision.decided_by == "viewer")) is None


def _open_question(config: HubConfig) -> int:
    """Two trusted sources that changed a company's street differently: a conflict for a steward
    (a company of its own, apart from the estate's)."""
    base = {"legal_name": "Topologie s.r.o.", "company_id": "27074358", "city": "Brno"}
    hub_id, when = "HTOPOLOGY1", datetime.now(UTC)
    with session_scope(open_store(config)) as session:
        for system, record_id, street in (("crm", "CRM-TOPO-1", "Nova 5"), ("accounting", "ACC-TOPO-1", "Hlavni 1")):
            session.add(CanonicalRecord(system=system, record_id=record_id, values={**base, "street": street},
                                        source_hash="topology", run_id="topology"))
            session.add(Xref(system=system, record_id=record_id, hub_id=hub_id, rule="company_id",
                             run_id="topology", linked_at=when))
        session.add(GoldenRecord(hub_id=hub_id, version=1, values={**base, "street": "Hlavni 1"},
                                 lineage={f: {"source": "accounting", "record_id": "ACC-TOPO-1",
                                              "rule": "source_priority"} for f in (*base, "street")},
                                 is_current=True, run_id="topology", created_at=when))
        item = ReviewItem(kind="conflict", fingerprint="topology-street", hub_id=hub_id, system="crm",
                          record_id="CRM-TOPO-1", other_system="accounting", other_record_id="ACC-TOPO-1",
                          field="street", candidates={"crm": "Nova 5", "accounting": "Hlavni 1"},
                          run_id="topology", created_at=when,
                          reason="two trusted sources changed the street differently")
        session.add(item)
        session.flush()
        return int(item.id)


def _browser(topology: Running, user: str) -> requests.Session:
    session = requests.Session()
    session.cookies.set("_token", topology.api.token(user))
    return session


def test_a_task_failing_for_good_on_a_worker_fires_the_webhook_without_a_secret(topology: Running) -> None:
    """The alert notifier runs where the task ran, on a Celery worker, with the connection the
    worker was given: its bearer token reaches the webhook, and the message holds no secret."""
    # A system hub.yaml does not know: the plan task refuses it, on its try and its one retry.
    run_id = topology.api.trigger("resync_window", {"systems": ["sap"], "start": "2026-03-02",
                                                    "end": "2026-03-03", "dry_run": True})
    assert topology.api.wait_for_run("resync_window", run_id) == "failed"
    deadline = time.monotonic() + 60
    while not topology.webhook.received and time.monotonic() < deadline:
        time.sleep(1)
    [(headers, body)] = topology.webhook.received
    assert headers["Authorization"] == f"Bearer {topology.webhook.TOKEN}"
    assert (body["dag_id"], body["task_id"], body["try_number"]) == ("resync_window", "plan", 2)
    assert body["error"].startswith("ConfigError: backfill params:") and "sap" in body["error"]
    sent = json.dumps(body)
    assert topology.webhook.TOKEN not in sent
    connections = json.loads(topology.topology.site.connections_file.read_text())
    assert not [c for c, fields in connections.items() if fields.get("password") and fields["password"] in sent]
