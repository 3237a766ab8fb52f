"""A nightly reconcile whose match training ran away says so in the run's metrics."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from hub.pipeline.reconcile import reconcile_run
from hub.pipeline.report import TRAINING_SET_ASIDE, build_report
from reconciliation.report import render_report
from hub.store.db import session_scope
from hub.store.models import RunMetric
from tests.fixtures.hubstore import new_run, open_seeded, put, store_config
from tests.reconciliation.persons import person_frame

FALLBACK = "match_training_fallback"


def _metric(engine: Engine, run_id: str) -> int | None:
    with session_scope(engine) as session:
        return session.scalar(select(RunMetric.value).where(RunMetric.run_id == run_id, RunMetric.system == "hub",
                                                            RunMetric.metric == FALLBACK))


def test_a_company_estate_trains_and_the_run_records_no_fallback(tmp_path: Path) -> None:
    config = store_config(tmp_path)
    engine = open_seeded(config, 30)
    ctx = new_run(config, engine)
    reconcile_run(ctx)
    assert _metric(engine, ctx.run_id) == 0
    assert build_report(ctx).matching_notes == []


def test_persons_with_a_lenient_configured_m_fall_back_and_the_run_records_it(tmp_path: Path) -> None:
    """Persons in company fields, no key, loose blocking (postcode, city), m copied from elsewhere:
    EM moves λ only, with random pairs' u, and runs away; the run keeps the untrained model and
    its metric says so (the report and an alert can read it)."""
    config = store_config(tmp_path)
    raw = config.matching.model_dump(mode="json", by_alias=True)
    raw |= {"keys": ["company_id"], "exclusive": None, "blocking": [["postal_code"], ["city_fold"]],
            "comparisons": [
                {"name": "name", "column": "name_plain",
                 "levels": [{"kind": "exact"}, {"kind": "jaro_winkler", "min": 0.9}], "m": [0.3, 0.2, 0.5]},
                {"name": "city", "column": "city_fold", "levels": [{"kind": "exact"}], "m": [0.3, 0.7]},
                {"name": "postal_code", "column": "postal_code", "levels": [{"kind": "exact"}], "m": [0.3, 0.7]}]}
    config = config.model_copy(update={"matching": type(config.matching).model_validate(raw)})
    engine = open_seeded(config, 0)
    records, _ = person_frame(200, seed=3)
    for r in records.iter_rows(named=True):
        system = "crm" if r["system"] == "a" else "accounting"
        put(engine, system, r["record_id"], {
            "legal_name": " ".join(filter(None, (r["given_name"], r["surname"]))), "street": r["street"],
            "city": r["suburb"], "postal_code": r["postcode"], "country": "AU"})
    ctx = new_run(config, engine)
    reconcile_run(ctx)
    assert _metric(engine, ctx.run_id) == 1
    report = build_report(ctx)  # the page and the summary say so, not only a metric
    assert report.matching_notes == [TRAINING_SET_ASIDE]
    assert "untrained parameters" in render_report(report)
