"""The report's differences read from a store as columns: every state and correction outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clock import utcnow
from hub.pipeline.context import open_store
from hub.pipeline.report_views import diff_frame, top_rows
from hub.store.db import session_scope
from hub.store.models import Discrepancy, GoldenRecord, Outbox, Xref
from reconciliation.report import SystemValue, diff_rows_of
from tests.fixtures.hubstore import new_run, store_config


def _discrepancy(run_id: str, system: str, record_id: str, field: str, held: str | None, golden: str | None,
                 corrected: bool, hub_id: str = "H1") -> Discrepancy:
    return Discrepancy(run_id=run_id, hub_id=hub_id, system=system, record_id=record_id, field=field,
                       system_value=held, golden_value=golden, source="accounting", rule="source_priority",
                       corrected=corrected)


def _outbox(key: str, run_id: str, values: dict, status: str) -> Outbox:
    return Outbox(idempotency_key=key, run_id=run_id, system="crm", record_id="C1", hub_id="H1", values=values,
                  status=status, attempts=1, created_at=utcnow())


@pytest.mark.parametrize("hub_store_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
                         indirect=True)
def test_every_state_and_outcome_of_a_dry_run(hub_store_url: str, tmp_path: Path) -> None:
    config = store_config(tmp_path)  # SQLite lists a JSON object's keys with json_each, PostgreSQL otherwise
    config = config.model_copy(update={"store": config.store.model_copy(update={"url": hub_store_url})})
    engine = open_store(config)
    run = new_run(config, engine, dry_run=True).run_id
    now = utcnow()
    with session_scope(engine) as session:
        session.add_all([
            GoldenRecord(hub_id="H1", version=1, values={"legal_name": "Stará s.r.o."}, lineage={}, is_current=False,
                         run_id="r0", created_at=now),
            GoldenRecord(hub_id="H1", version=2, values={"legal_name": "Nová s.r.o."}, lineage={}, run_id=run,
                         created_at=now),
            *(Xref(system=s, record_id=r, hub_id="H1", rule="exact", run_id=run, linked_at=now)
              for s, r in (("crm", "C1"), ("crm", "C2"), ("accounting", "A1"))),
            # crm C1's corrections: an earlier run sent city (set to empty: a null value) and
            # street; this run's street waits (a dry run sends nothing).
            _outbox("k1", "r0", {"city": None, "street": "Stará 1"}, "sent"),
            _outbox("k2", run, {"street": "Nová 1"}, "pending"),
            _discrepancy(run, "crm", "C1", "street", "Stará 1", "Nová 1", True),
            _discrepancy(run, "crm", "C1", "city", "Brno", None, True),
            _discrepancy(run, "crm", "C2", "city", "", None, False),  # a second crm record of the company
            _discrepancy(run, "accounting", "A1", "email", "a@x.cz", "b@x.cz", True),
            _discrepancy(run, "accounting", "A1", "credit_limit", "100", "200", False),
            _discrepancy("r0", "crm", "C1", "phone", "1", "2", True),  # another run's: not this report's
        ])
    with session_scope(engine) as session:
        frame = diff_frame(session.connection(), config, run, dry_run=True)
        rows = {d.field: d for d in diff_rows_of(frame, config.enabled_systems())}
        alone = diff_frame(session.connection(), config, run, dry_run=True, hubs=["H1"])
    assert list(rows) == ["city", "credit_limit", "email", "street"], "company fields in order"
    assert {d.company for d in rows.values()} == {"Nová s.r.o."}, "the current name"
    assert rows["street"].values == {"crm": SystemValue("Stará 1", "differs", "would send"),
                                     "accounting": SystemValue("Nová 1", "source"),
                                     "erp": SystemValue(None, "no_record")}
    assert rows["city"].values["crm"] == SystemValue("(empty) | Brno", "differs", "sent"), \
        "both crm records; the field was set by an earlier run's row, even to null"
    assert rows["email"].values["accounting"] == SystemValue("a@x.cz", "differs", "sent earlier")
    assert rows["email"].values["crm"] == SystemValue("b@x.cz", "agrees")
    assert rows["credit_limit"].values["accounting"].correction == "reported only"
    assert rows["credit_limit"].values["crm"] == SystemValue(None, "not_held")
    assert alone.equals(frame)
    assert top_rows(frame, top=1).get_column("field").to_list() == ["city", "credit_limit", "email", "street"]
    assert frame.filter(frame["field"] == "city")["differing"].item() == 2
