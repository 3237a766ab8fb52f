"""A large page of a daily export file is staged by ranges (its staged rows read as one key
range, its unchanged rows' new file date set per run of consecutive ids): the store ends
exactly as when every row is read and set one by one, whatever else the range holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from connectors.base import Page, RawRecord
from hub.config import HubConfig
from hub.pipeline import stage
from hub.pipeline.context import open_store
from hub.pipeline.runs import start_run
from hub.pipeline.stage import stage_page
from hub.store.db import session_scope
from hub.store.models import SourceRecord

pytestmark = pytest.mark.integration
ROWS = 2_500  # past stage._RANGE_MIN


@pytest.fixture
def store(hub_config: HubConfig) -> Iterator[Engine]:
    engine = open_store(hub_config)
    yield engine
    engine.dispose()


def _record(i: int, name: str = "Firma") -> RawRecord:
    return RawRecord(f"P{i:06d}", {"PARTNER_ID": f"P{i:06d}", "NAZEV": f"{name} {i}"})


def _page(engine: Engine, system: str, records: list[RawRecord], day: str) -> dict[str, int]:
    run_id = start_run(engine, "nightly")
    with session_scope(engine) as session:
        return dict(stage_page(session, system, Page(records, source_name=f"partners_{day}.csv"), run_id))


def _rows(engine: Engine) -> list[tuple[Any, ...]]:
    with session_scope(engine) as session:
        return sorted(tuple(r) for r in session.execute(select(
            SourceRecord.system, SourceRecord.record_id, SourceRecord.content_hash, SourceRecord.version,
            SourceRecord.source_version, SourceRecord.deleted_at, SourceRecord.payload)))


def _nights(engine: Engine) -> list[dict[str, int]]:
    # the other system's records sit inside the page's key range
    _page(engine, "other", [_record(i) for i in range(1, ROWS, 7)], "20261201")
    counts = [_page(engine, "erp", [_record(i) for i in range(0, ROWS, 2)], "20261201")]
    # the next file: every 10th row changed, odd ids new (interleaved in the range), one older row gone
    night = [_record(i, "Nova" if i % 10 == 0 else "Firma") for i in range(0, ROWS)]
    counts.append(_page(engine, "erp", [r for r in night if r.record_id != "P000004"], "20261202"))
    counts.append(_page(engine, "erp", night[:5], "20261130"))  # an older file: stale rows
    return counts


def test_a_page_staged_by_ranges_leaves_the_store_as_row_by_row(store: Engine, hub_config: HubConfig,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    by_ranges = _nights(store)
    ranged = _rows(store)
    with session_scope(store) as session:
        session.execute(SourceRecord.__table__.delete())
    monkeypatch.setattr(stage, "_RANGE_MIN", 10 * ROWS)  # every row read by IN lists
    monkeypatch.setattr(stage, "_runs", lambda ids: ((i, i) for i in ids))  # and set one by one
    one_by_one = _nights(store)
    assert by_ranges == one_by_one
    assert by_ranges[1]["changed"] == ROWS // 10 and by_ranges[1]["new"] == ROWS // 2
    assert by_ranges[2]["stale"] == 5  # P000004 too: its last staged file is newer still
    assert [r[1:] for r in _rows(store)] == [r[1:] for r in ranged]
    assert {r[4] for r in ranged if r[0] == "erp" and r[1] > "P000004"} == {
        next(r[4] for r in ranged if r[1] == "P002499" and r[0] == "erp")}
