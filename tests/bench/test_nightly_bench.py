"""The nightly bench at a tiny size, through its real entry point: two fresh processes (the
sandbox estate and the hub worker), every step reported with what it worked on, and a
steady-state run that finds exactly the changes made in the systems. No time is asserted."""

from __future__ import annotations

import pytest

from bench._nightly_table import found_changes
from bench.nightly import RUNS, measure

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SYSTEMS = ("crm", "accounting", "erp")
STEPS = ({f"{step}:{system}" for step in ("extract", "map", "publish") for system in SYSTEMS}
         | {"registries", "reconcile", "report"})


@pytest.fixture(scope="module")
def result() -> dict:
    return measure(60, "sqlite")


def test_every_step_of_every_run_is_reported_with_its_figures(result: dict) -> None:
    for phase in RUNS:
        lines = {r["step"]: r for r in result["rows"] if r["phase"] == phase}
        assert STEPS <= set(lines), phase
        for line in lines.values():
            assert line["seconds"] >= 0 and line["hub_mb"] > 0 and line["estate_mb"] > 0, line
        # each step's CPU seconds of the hub worker, next to its wall clock
        assert all(0 <= lines[step]["cpu_s"] for step in STEPS), phase
    first = {r["step"]: r for r in result["rows"] if r["phase"] == "first"}
    assert all(first[step]["rows"] > 0 for step in STEPS), first
    # The step figures are the ones the run recorded in the store, step by step.
    assert all(s["recorded_ms"] == s["ms"] for run in RUNS for s in result["answers"][run]["steps"])


def test_the_steady_run_finds_exactly_the_changes_made(result: dict) -> None:
    made = result["answers"]["change"]["changes"]
    for system in SYSTEMS:
        assert sum(len(ids) for ids in made[system].values()) > 0
        made_here = sum(len(ids) for ids in made[system].values())
        assert found_changes(result, system) == made_here, system
    # Read again: only what changed since the cursor (and the record at the cursor itself).
    steady = {r["step"]: r["rows"] for r in result["rows"] if r["phase"] == "steady"}
    assert sum(len(ids) for ids in made["crm"].values()) <= steady["extract:crm"] <= \
        sum(len(ids) for ids in made["crm"].values()) + 1


def test_the_sandbox_is_measured_on_its_own(result: dict) -> None:
    estate = result["estate"]
    assert set(estate["start_seconds"]) >= {"crm", "accounting", "erp", "erp_export"}
    assert result["crm_scan"]["accounts"] == estate["records"]["crm"]
    assert result["hub_peak_mb"] > 0 and result["estate_peak_mb"] > 0


def test_the_registries_can_be_left_out(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench._nightly_worker import bench_config

    assert any(b.enabled for b in bench_config(tmp_path).registries.values())  # as shipped
    monkeypatch.setenv("BENCH_NIGHTLY_REGISTRIES", "off")
    config = bench_config(tmp_path)
    assert config.registries and not any(b.enabled for b in config.registries.values())
    assert config.report_dir == str(tmp_path)
