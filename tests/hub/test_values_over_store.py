"""Values over the store: a difference in spelling only is no conflict and no correction, and a
correction is sent again whenever the target again differs from the golden value (issue 12)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from hub.config import HubConfig
from hub.pipeline.reconcile import reconcile_run
from hub.pipeline.report import build_report
from hub.store.db import session_scope
from hub.store.models import Discrepancy, Outbox, ReviewItem
from hub.xref_ops import golden_at
from reconciliation.formulas import HELD
from tests.fixtures.hubstore import company, hub_of, new_run, open_seeded, put, store_config

SYSTEMS = ("crm", "accounting", "erp")


def _outbox(engine: Engine) -> list[tuple[str, str, dict, str]]:
    with session_scope(engine) as session:
        rows = session.scalars(select(Outbox).order_by(Outbox.id))
        return [(o.system, o.record_id, o.values, o.status) for o in rows]


def _conflicts(engine: Engine) -> list[str | None]:
    with session_scope(engine) as session:
        return [r.field for r in session.scalars(select(ReviewItem).where(ReviewItem.kind == "conflict"))]


def _discrepancies(engine: Engine, run_id: str) -> list[tuple[str, str]]:
    with session_scope(engine) as session:
        return [(d.system, d.field) for d in session.scalars(select(Discrepancy).where(Discrepancy.run_id == run_id))]


def _seeded(tmp_path: Path, n: int = 3) -> tuple[HubConfig, Engine]:
    config = store_config(tmp_path)
    engine = open_seeded(config, n, SYSTEMS)
    reconcile_run(new_run(config, engine))
    assert _outbox(engine) == []
    return config, engine


def test_case_and_spacing_changes_by_two_sources_raise_no_conflict_and_correct_nobody(tmp_path: Path) -> None:
    config, engine = _seeded(tmp_path)
    put(engine, "crm", "crm-1", company(1, city="Praha", legal_name="FIRMA 1 S.R.O."))
    put(engine, "accounting", "accounting-1", company(1, city="PRAHA ", legal_name="Firma  1 s.r.o."))
    put(engine, "erp", "erp-1", company(1, city="praha"))
    ctx = new_run(config, engine)
    reconcile_run(ctx)
    assert _conflicts(engine) == []
    assert golden_at(engine, hub_of(engine, "crm", "crm-1")).values["city"] == "Praha"
    assert _discrepancies(engine, ctx.run_id) == [] and _outbox(engine) == []


def test_two_sources_changing_a_value_for_real_still_conflict(tmp_path: Path) -> None:
    config, engine = _seeded(tmp_path)
    put(engine, "crm", "crm-1", company(1, city="Praha"))
    put(engine, "accounting", "accounting-1", company(1, city="Plzeň"))
    reconcile_run(new_run(config, engine))
    assert _conflicts(engine) == ["city"]


def test_postal_code_spellings_of_one_country_are_one_value(tmp_path: Path) -> None:
    config, engine = _seeded(tmp_path)
    lu = {"country": "LU", "city": "Luxembourg", "street": "Rue de Hollerich 5"}
    put(engine, "crm", "crm-2", company(2, postal_code="L-1855", **lu))
    put(engine, "accounting", "accounting-2", company(2, postal_code="1855", **lu))
    put(engine, "erp", "erp-2", company(2, postal_code="l 1855", **lu))
    ctx = new_run(config, engine)
    reconcile_run(ctx)
    assert _conflicts(engine) == []
    assert ("accounting", "postal_code") not in _discrepancies(engine, ctx.run_id)
    assert all("postal_code" not in values for _, _, values, _ in _outbox(engine))


def test_a_case_only_golden_change_makes_no_version_and_no_correction(tmp_path: Path) -> None:
    config, engine = _seeded(tmp_path)
    hub_id = hub_of(engine, "crm", "crm-0")
    put(engine, "crm", "crm-0", company(0, city="BRNO", legal_name="FIRMA 0 S.R.O."))  # the CRM leads city
    reconcile_run(new_run(config, engine))
    golden = golden_at(engine, hub_id)
    assert (golden.version, golden.values["city"], golden.values["legal_name"]) == (1, "Brno", "Firma 0 s.r.o.")
    assert _outbox(engine) == []


def test_a_correction_is_sent_again_when_the_target_goes_back_to_the_content_it_was_corrected_from(
        tmp_path: Path) -> None:
    """The measured sequence: ERP row A is corrected and fixed, then goes back to exactly A."""
    config, engine = _seeded(tmp_path)
    drifted = company(1, street="Stará 9")
    run1 = new_run(config, engine)
    put(engine, "erp", "erp-1", drifted, run_id=run1.run_id)
    reconcile_run(run1)
    assert _outbox(engine) == [("erp", "erp-1", {"street": "Ulice 1"}, "pending")]
    _mark_sent(engine)
    reconcile_run(new_run(config, engine))  # the same state again: nothing doubled
    assert len(_outbox(engine)) == 1

    run2 = new_run(config, engine)
    put(engine, "erp", "erp-1", company(1), run_id=run2.run_id)  # the ERP applied the correction
    reconcile_run(run2)
    run3 = new_run(config, engine)
    put(engine, "erp", "erp-1", drifted, run_id=run3.run_id)  # ...and went back to exactly A
    reconcile_run(run3)
    assert _outbox(engine) == [("erp", "erp-1", {"street": "Ulice 1"}, "sent"),
                               ("erp", "erp-1", {"street": "Ulice 1"}, "pending")]
    reconcile_run(new_run(config, engine))  # and once per state
    assert len(_outbox(engine)) == 2


def _mark_sent(engine: Engine) -> None:
    with session_scope(engine) as session:
        for row in session.scalars(select(Outbox).where(Outbox.status == "pending")):
            row.status = "sent"


def test_a_formula_name_becomes_golden_but_is_held_and_flagged_never_sent(tmp_path: Path) -> None:
    config, engine = _seeded(tmp_path)
    link = '=HYPERLINK("http://x","Klikni")'
    ctx = new_run(config, engine)
    put(engine, "accounting", "accounting-2", company(2, legal_name=link), run_id=ctx.run_id)  # accounting leads names
    reconcile_run(ctx)
    assert golden_at(engine, hub_of(engine, "crm", "crm-2")).values["legal_name"] == link
    with session_scope(engine) as session:
        held = [(d.system, d.corrected) for d in session.scalars(
            select(Discrepancy).where(Discrepancy.run_id == ctx.run_id, Discrepancy.field == "legal_name"))]
    assert sorted(held) == [("crm", False), ("erp", False)]
    assert _outbox(engine) == []
    assert [(f.system, f.record_id, f.field, f.action) for f in build_report(ctx).formulas] == [
        ("accounting", "accounting-2", "legal_name", HELD)]


def test_diacritics_count_unless_hub_yaml_says_a_field_folds_them(tmp_path: Path) -> None:
    config, engine = _seeded(tmp_path)
    put(engine, "crm", "crm-1", company(1, city="Plzeň"))
    put(engine, "erp", "erp-1", company(1, city="PLZEN"))
    folding = config.model_copy(update={"survivorship": config.survivorship.model_copy(
        update={"compare": {"city": "fold"}})})
    ctx = new_run(folding, engine)
    reconcile_run(ctx)
    assert ("erp", "city") not in _discrepancies(engine, ctx.run_id)
    assert ("accounting", "city") in _discrepancies(engine, ctx.run_id)  # "Brno" is another city
    ctx = new_run(config, engine)
    reconcile_run(ctx)
    assert ("erp", "city") in _discrepancies(engine, ctx.run_id)
