"""What SQLite does with reconcile's reads of the store: it keeps no statistics, so an index the
planner prefers by its shape alone can turn a read per scope into a scan of the estate.

The statements are captured as the code runs them and explained by SQLite: reading the current
golden records of a few hub ids searches by hub id (an index on the is_current flag made it scan
every current version for each IN list, quadratic in the scope), and counting what a run staged
searches that run's records (not a scan of the whole xref).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from hub.config import load_config
from hub.pipeline import golden, reconcile
from hub.pipeline.context import RunContext
from hub.store.db import make_engine, migrate


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _plans(engine: Engine, call: Callable[[Session], object]) -> list[str]:
    """SQLite's query plan of each SELECT ``call`` runs, one line each."""
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            call(session)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        return [" / ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
                for sql, params in seen]


def test_current_golden_records_of_some_hub_ids_are_searched_by_hub_id(engine: Engine) -> None:
    plans = _plans(engine, lambda session: golden._currents(session, ["H1", "H2", "H3"]))
    assert plans and all("SEARCH golden_record USING INDEX" in p and "(hub_id=?)" in p for p in plans), plans


def test_the_records_a_run_staged_are_counted_from_that_runs_rows(engine: Engine, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTHUB_STORE_URL", str(engine.url))
    ctx = RunContext(load_config(), engine, "r1")
    plans = _plans(engine, lambda session: reconcile._matched(session, ctx))
    assert len(plans) == 1
    assert "SEARCH source_record USING INDEX ix_source_record_run (run_id=?)" in plans[0], plans
    assert "SCAN xref" not in plans[0], plans
