"""Mapping by partition (orchestration.partitions.map): the same canonical records, quarantine and
figures as one task mapping the whole system, whatever the partition count, on SQLite and on
PostgreSQL; two partitions of a system writing at once on PostgreSQL wait on nothing of each
other; a partition re-run after a crash maps nothing twice."""

from __future__ import annotations

import multiprocessing
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from connectors.base import Page, RawRecord
from hub.config import HubConfig
from hub.orchestration_config import OrchestrationConfig
from hub.pipeline import map as map_step
from hub.pipeline.context import RunContext, metrics, open_store, set_metric
from hub.pipeline.map import Partition, add_up_partitions, map_partition, map_system
from hub.pipeline.runs import start_run
from hub.pipeline.stage import stage_page
from hub.store.db import make_engine, migrate, session_scope
from hub.store.models import CanonicalRecord, Quarantine
from tests.mappings.payloads import crm_account

pytestmark = pytest.mark.integration

SYSTEM = "crm"
BAD = {"CountryCode": "Absurdistán"}  # a country no mapping knows: quarantined at map
Mapper = Callable[[RunContext], None]


@pytest.fixture
def store(hub_config: HubConfig) -> Iterator[Engine]:
    engine = open_store(hub_config)
    yield engine
    engine.dispose()


def _account(i: int, version: int = 7, **changes: Any) -> RawRecord:
    payload = crm_account(**{"AccountId": f"CRM-{i:04d}", "Name": f"Firma {i} s.r.o.",
                             "CompanyId": None, "VatId": None, "Version": version,
                             "ModifiedAt": f"2026-01-{version - 2:02d}T10:00:00Z", **changes})
    return RawRecord(payload["AccountId"], payload, version=str(version))


# Round 1: 40 records, 3 of them unmappable; extract's own rejects and doubled keys counted.
ROUND_1 = [_account(i, **(BAD if i in (5, 17, 33) else {})) for i in range(40)]
# Round 2: changed contents (one with new registry keys), a bad one fixed, a good one broken,
# new records good and bad.
ROUND_2 = ([_account(i, version=8, Email=f"nova{i}@firma.cz") for i in range(0, 40, 4)]
           + [_account(9, version=8, CompanyId="27082440")]
           + [_account(5, version=8), _account(6, version=8, **BAD)]
           + [_account(i) for i in range(40, 46)] + [_account(46, **BAD)])


def _round(ctx: RunContext, records: list[RawRecord], mapper: Mapper) -> None:
    with session_scope(ctx.engine) as session:
        stage_page(session, SYSTEM, Page(records=records, cursor=None), ctx.run_id,
                   cursor_field="ModifiedAt")
        # What extract counted for the run: map's "quarantined" adds these (map._set_metrics).
        set_metric(session, ctx.run_id, SYSTEM, "rejected", 2)
        set_metric(session, ctx.run_id, SYSTEM, "duplicate_key", 1)
    mapper(ctx)


def _reference_store(tmp_path: Path) -> Engine:
    """A SQLite store beside the one under test, for one task mapping the whole system."""
    engine = make_engine(f"sqlite:///{tmp_path / 'whole.db'}")
    migrate(engine)
    return engine


def _whole(ctx: RunContext) -> None:
    map_system(ctx, SYSTEM)


def _in_partitions(count: int) -> Mapper:
    def mapper(ctx: RunContext) -> None:
        for index in reversed(range(count)):  # in any order
            map_partition(ctx, SYSTEM, Partition(index, count))
        add_up_partitions(ctx, count)
    return mapper


def _snapshot(engine: Engine, runs: list[str]) -> dict[str, Any]:
    """What mapping left, each run id shown as its round (the stores' run ids differ)."""
    label = {run: f"round {n}" for n, run in enumerate(runs, 1)}
    with session_scope(engine) as session:
        canonical = {c.record_id: (c.values, c.source_hash, label[c.run_id],
                                   label.get(c.keys_run_id or c.run_id))
                     for c in session.scalars(select(CanonicalRecord))}
        quarantine = sorted((q.record_key, q.content_hash, q.stage, q.reason, label[q.run_id])
                            for q in session.scalars(select(Quarantine)))
        figures = [{m: v for (s, m), v in metrics(session, run).items()
                    if s == SYSTEM and m in ("mapped", "quarantined")} for run in runs]
    return {"canonical": canonical, "quarantine": quarantine, "figures": figures}


def _two_rounds(config: HubConfig, engine: Engine, mapper: Mapper,
                runs: list[str] | None = None) -> dict[str, Any]:
    """``runs``: given a list, the rounds' run ids are appended to it."""
    runs = [] if runs is None else runs
    for records in (ROUND_1, ROUND_2):
        ctx = RunContext(config, engine, start_run(engine, "nightly"))
        runs.append(ctx.run_id)
        _round(ctx, records, mapper)
    return _snapshot(engine, runs)


@pytest.mark.parametrize("count", [1, 3, 7])
def test_partitions_map_what_one_task_maps(hub_config: HubConfig, store: Engine, tmp_path: Path,
                                           count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(map_step, "BATCH", 4)  # several batches in every partition
    reference = _reference_store(tmp_path)
    expected = _two_rounds(hub_config, reference, _whole)
    assert len(expected["canonical"]) == 43 and len(expected["quarantine"]) == 5  # the rounds bite
    assert expected["figures"] == [{"mapped": 37, "quarantined": 6}, {"mapped": 18, "quarantined": 5}]

    runs: list[str] = []
    got = _two_rounds(hub_config, store, _in_partitions(count), runs)
    assert got == expected
    if count > 1:  # each partition kept its own figures beside the system's sums
        with session_scope(store) as session:
            kept = metrics(session, runs[-1])
        parts = [kept[(SYSTEM, Partition(i, count).metric("mapped"))] for i in range(count)]
        assert sum(parts) == 18 and kept[(SYSTEM, "map_ms")] >= 0
    reference.dispose()


def test_a_partition_holds_the_records_its_hash_says() -> None:
    ids = [f"CRM-{i:04d}" for i in range(200)]
    for count in (1, 3, 7):
        owners = [[i for i in range(count) if Partition(i, count).holds(r)] for r in ids]
        assert all(len(o) == 1 for o in owners)  # each record in exactly one partition
        assert all(o == [zlib.crc32(r.encode()) % count] for r, o in zip(ids, owners, strict=True))
    with pytest.raises(ValueError):
        Partition(3, 3)


def test_the_partition_count_is_validated() -> None:
    assert OrchestrationConfig().partitions.map == 1
    assert OrchestrationConfig.model_validate({"partitions": {"map": 4}}).partitions.map == 4
    for bad in ({"map": 0}, {"map": 65}, {"reconcile": 2}):
        with pytest.raises(ValueError):
            OrchestrationConfig.model_validate({"partitions": bad})


# -- side by side on PostgreSQL ---------------------------------------------------------------

def _no_lock_waits(engine: Engine) -> Engine:
    """Every statement that would wait for a lock fails after 2 s instead of waiting."""
    @event.listens_for(engine, "connect")
    def _lock_timeout(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cur:
            cur.execute("SET lock_timeout = '2s'")
    return engine


# SQLite has one writer at a time: partitions side by side are for PostgreSQL.
@pytest.mark.parametrize("hub_store_url", ["postgresql"], indirect=True)
def test_two_partitions_write_side_by_side_without_waiting(
        hub_config: HubConfig, store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(map_step, "BATCH", 5)
    first = RunContext(hub_config, store, start_run(store, "nightly"))
    _round(first, ROUND_1, _whole)
    # Every record changes: each partition deletes its old canonical rows, inserts new ones and
    # quarantines its bad records, all while the other holds its own uncommitted writes.
    changed = [_account(i, version=9, Email=f"x{i}@firma.cz", **(BAD if i % 10 == 3 else {}))
               for i in range(40)]
    engine = _no_lock_waits(make_engine(str(store.url.render_as_string(hide_password=False))))
    ctx = RunContext(hub_config, engine, start_run(store, "nightly"))
    with session_scope(engine) as session:
        stage_page(session, SYSTEM, Page(records=changed, cursor=None), ctx.run_id,
                   cursor_field="ModifiedAt")

    both_wrote = threading.Barrier(2, timeout=60)
    insert, waited = map_step.bulk_insert, set()

    def insert_then_wait(session: Any, table: Any, rows: Any, *args: Any) -> int:
        done = insert(session, table, rows, *args)
        if threading.get_ident() not in waited:  # after its first batch: rows locked, uncommitted
            waited.add(threading.get_ident())
            both_wrote.wait()
        return done

    monkeypatch.setattr(map_step, "bulk_insert", insert_then_wait)
    results: dict[int, Any] = {}

    def run(index: int) -> None:
        try:
            results[index] = map_partition(ctx, SYSTEM, Partition(index, 2))
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            results[index] = e
            both_wrote.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(isinstance(r, dict) for r in results.values()) and len(results) == 2, results
    add_up_partitions(ctx, 2)
    bad = {f"CRM-{i:04d}" for i in range(40) if i % 10 == 3}
    assert sum(r["mapped"] for r in results.values()) == 36
    with session_scope(engine) as session:
        rows = session.execute(select(CanonicalRecord.record_id, CanonicalRecord.run_id)).all()
        quarantined = session.scalars(select(Quarantine.record_key).where(
            Quarantine.run_id == ctx.run_id)).all()
        figures = metrics(session, ctx.run_id)
    assert sorted(r for r, _ in rows) == sorted(f"CRM-{i:04d}" for i in range(40) if f"CRM-{i:04d}" not in bad)
    assert {run for _, run in rows} == {ctx.run_id}  # every one re-mapped, none lost or doubled
    assert sorted(quarantined) == sorted(bad)
    assert (figures[(SYSTEM, "mapped")], figures[(SYSTEM, "quarantined")]) == (36, 4)
    engine.dispose()


def _map_task(run_id: str, partition: int, results: Any, both_wrote: Any) -> None:
    """One Airflow map_records task in a process of its own (hub.tasks: lease, isolation,
    figures), pausing after its first batch (rows written, not committed) until the other
    task has written too."""
    from hub import tasks

    insert, waited = map_step.bulk_insert, []

    def insert_then_wait(*args: Any) -> int:
        done = insert(*args)
        if not waited:
            waited.append(1)
            both_wrote.wait()
        return done

    map_step.bulk_insert = insert_then_wait  # type: ignore[assignment] - this process only
    try:
        results.put((partition, tasks.map_records(run_id, SYSTEM, partition, 2)))
    except BaseException as e:  # noqa: BLE001 - reported by the parent's assertion
        both_wrote.abort()
        results.put((partition, repr(e)))


@pytest.mark.parametrize("hub_store_url", ["postgresql"], indirect=True)
def test_two_partition_tasks_in_two_processes_wait_on_nothing(
        hub_config: HubConfig, store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub import tasks
    from hub.pipeline.runs import finish_run
    from tests.fixtures.airflow import write_test_config

    monkeypatch.setenv("CUSTHUB_CONFIG", str(write_test_config(tmp_path, partitions={"map": 2})))
    first = RunContext(hub_config, store, start_run(store, "nightly"))
    _round(first, ROUND_1, _whole)
    finish_run(store, first.run_id, "succeeded")
    run_id = start_run(store, "nightly")
    changed = [_account(i, version=9, Email=f"x{i}@firma.cz") for i in range(12_000)]
    with session_scope(store) as session:  # more than a batch per partition
        stage_page(session, SYSTEM, Page(records=changed, cursor=None), run_id, cursor_field="ModifiedAt")

    # libpq reads PGOPTIONS: in the tasks' processes a statement that would wait for a lock
    # fails after 2 s instead.
    monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=2000")
    spawn = multiprocessing.get_context("spawn")
    both_wrote, results = spawn.Barrier(2, timeout=120), spawn.Queue()
    workers = [spawn.Process(target=_map_task, args=(run_id, i, results, both_wrote)) for i in range(2)]
    for w in workers:
        w.start()
    try:
        got = dict(results.get(timeout=300) for _ in workers)
    finally:
        for w in workers:
            w.join(30)
            if w.is_alive():
                w.kill()
    assert all(isinstance(r, dict) for r in got.values()), got
    assert sum(r["mapped"] for r in got.values()) == 12_000

    tasks.check_quarantine(run_id)  # the next task: the figures add up
    with session_scope(store) as session:
        rows = session.scalars(select(CanonicalRecord.run_id)).all()
        figures = metrics(session, run_id)
    assert len(rows) == 12_000 and set(rows) == {run_id}  # each record mapped once, none lost
    assert (figures[(SYSTEM, "mapped")], figures[(SYSTEM, "quarantined")]) == (12_000, 0)
    assert figures[(SYSTEM, "map_ms")] == sum(figures[(SYSTEM, f"map_ms@{i}/2")] for i in range(2))


# -- a crash and a re-run -------------------------------------------------------------------

def test_a_partition_rerun_after_a_crash_maps_nothing_twice(
        hub_config: HubConfig, store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(map_step, "BATCH", 3)
    reference = _reference_store(tmp_path)
    expected = _two_rounds(hub_config, reference, _whole)

    insert, calls, crashed = map_step.bulk_insert, [], []

    def crash_on_the_second_batch(*args: Any) -> int:
        calls.append(1)
        done = insert(*args)  # the first batch is written, then the worker dies
        if len(calls) == 2:
            raise WorkerKilled
        return done

    def crash_then_rerun(ctx: RunContext) -> None:
        map_partition(ctx, SYSTEM, Partition(0, 3))
        if not crashed:  # the first round
            monkeypatch.setattr(map_step, "bulk_insert", crash_on_the_second_batch)
            with pytest.raises(WorkerKilled):
                map_partition(ctx, SYSTEM, Partition(1, 3))
            monkeypatch.setattr(map_step, "bulk_insert", insert)
            crashed.append(ctx.run_id)
        map_partition(ctx, SYSTEM, Partition(2, 3))
        assert map_partition(ctx, SYSTEM, Partition(1, 3))["mapped"] > 0  # Airflow's retry
        # Re-run again after success (a worker died after its commit): nothing is mapped twice,
        # and the figures the partition committed stay.
        assert not any(map_partition(ctx, SYSTEM, Partition(1, 3)).values())
        assert not any(map_partition(ctx, SYSTEM, Partition(0, 3)).values())
        add_up_partitions(ctx, 3)

    got = _two_rounds(hub_config, store, crash_then_rerun)
    assert crashed and got == expected
    reference.dispose()


class WorkerKilled(Exception):
    """A worker dying mid-task: its transaction never commits."""
