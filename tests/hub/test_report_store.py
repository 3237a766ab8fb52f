"""The report of runs over the sandbox estate, read from the files an accountant opens:
per-run "matched", the open quarantine of every run, VIES consultation numbers, Czech numbers."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook
from sqlalchemy import func, select

from core.errors import ConfigError
from hub.config import load_config
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.nightly import run_nightly
from hub.pipeline.report import build_report
from hub.store.db import session_scope
from hub.store.models import Quarantine, SourceRecord, Xref
from hub.summary import print_summary
from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8-sig"), delimiter=";"))


def _matched_in_run(session, run_id: str, system: str, systems: list[str]) -> int:  # type: ignore[no-untyped-def]
    """Records the run staged (new or changed) that share a hub id with another system record."""
    shared = select(Xref.hub_id).where(Xref.system.in_(systems)).group_by(Xref.hub_id).having(func.count() > 1)
    return session.scalar(select(func.count()).select_from(Xref).join(
        SourceRecord, (SourceRecord.system == Xref.system) & (SourceRecord.record_id == Xref.record_id)).where(
        Xref.system == system, SourceRecord.run_id == run_id, Xref.hub_id.in_(shared)))


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_a_second_run_reports_its_own_matches_the_open_quarantine_and_vies_proof(
        hub_config, sandbox_estate, capsys) -> None:  # type: ignore[no-untyped-def]
    first = run_nightly(hub_config)
    engine = open_store(hub_config)
    with session_scope(engine) as session:  # a record an earlier night could not read stays open
        session.add(Quarantine(run_id=first.run_id, system="erp", record_key="customers-1.csv:7",
                               content_hash="x" * 64, stage="read", reason="IČO 12345678 fails its checksum",
                               raw_payload="{}", created_at=first_started(session, first.run_id)))
    second = run_nightly(hub_config)
    report = build_report(RunContext(hub_config, engine, second.run_id))
    with session_scope(engine) as session:
        open_ = session.scalar(select(func.count()).select_from(Quarantine).where(Quarantine.resolved_at.is_(None)))
        matched = {line.system: _matched_in_run(session, second.run_id, line.system, list(hub_config.systems))
                   for line in report.systems}
        whole = {s: session.scalar(select(func.count()).select_from(Xref).where(Xref.system == s))
                 for s in matched}
    assert {line.system: line.matched for line in report.systems} == matched
    assert all(line.matched <= line.extracted for line in report.systems), "counted per run, like extracted"
    assert matched != whole, "not the whole store"

    folder = second.report.parent
    quarantine = _rows(folder / "quarantine.csv")
    assert len(quarantine) == open_ >= 1 and "customers-1.csv:7" in {q["record"] for q in quarantine}
    html = second.report.read_text(encoding="utf-8")
    assert f"{open_} record(s) wait in quarantine" in html and "Nothing was quarantined" not in html

    vies = [f for f in _rows(folder / "registry_findings.csv") if f["registry"] == "vies"]
    assert vies and all(f["consultation"].startswith("WAPI") for f in vies), "hub.yaml names a requester"
    money = [f["credit_limit"] for f in _rows(folder / "registry_findings.csv") if f["credit_limit"]]
    assert money and all(re.fullmatch(r"\d+,\d\d", m) for m in money), money
    book = load_workbook(folder / "report.xlsx", read_only=False)
    assert all(sheet.auto_filter.ref for sheet in book.worksheets)

    print_summary(report, second.report)
    out = capsys.readouterr().out
    assert f"{open_} record(s) wait in quarantine" in out
    narrow = Console(width=80, file=io.StringIO())  # an 80-column terminal: no header cut,
    print_summary(replace(report, dry_run=True), second.report, narrow)  # a dry run's column too
    header = next(line for line in narrow.file.getvalue().splitlines() if "system" in line)
    assert all(name in header for name in ("extracted", "matched", "would fix", "conflicts",
                                           "quarantined")), header
    held = replace(report, systems=[replace(report.systems[0], in_conflict=1), *report.systems[1:]])
    for review in ("custhub serve", "make demo-review"):  # the command where the reader is
        print_summary(held, second.report, review=review)
        assert f"1 conflict(s) wait for a data steward: `{review}` opens" in capsys.readouterr().out


def first_started(session, run_id: str):  # type: ignore[no-untyped-def]
    from hub.store.models import Run

    return session.get(Run, run_id).started_at


def test_the_report_locale_is_checked_with_the_rest_of_the_configuration(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "config" / "hub.yaml").read_text(encoding="utf-8"))
    raw["report"] = {"locale": "xx_YY"}
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"report\.locale: .*unknown locale 'xx_YY'"):
        load_config(path)
    assert load_config(ROOT / "config" / "hub.yaml").report.locale == "cs_CZ"
