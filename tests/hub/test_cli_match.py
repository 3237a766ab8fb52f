"""``custhub match``: CSV files in, clusters out, with the hub's own match rules."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from hub.cli import app
from sandbox.generator import Options, generate


def _write(path: Path, rows: list[dict], encoding: str, delimiter: str) -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def test_match_links_two_lists_into_clusters_that_follow_the_truth(tmp_path: Path) -> None:
    estate = generate(80, seed=4, options=Options(without_ids=0.3, varied_names=True))
    crm = [r for r in estate.crm_accounts if not r["AccountId"].startswith("CRM-BROKEN")]
    _write(tmp_path / "crm.csv", crm, "utf-8", ",")
    _write(tmp_path / "erp.csv", estate.erp_partners, "cp1250", ";")
    out = tmp_path / "clusters.csv"
    result = CliRunner().invoke(app, ["match", f"{tmp_path / 'crm.csv'}=crm", f"{tmp_path / 'erp.csv'}=erp",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    clusters = pl.read_csv(out, schema_overrides={"record_id": pl.String})
    assert clusters.columns[:3] == ["system", "record_id", "cluster_id"]
    assert clusters.height == len(crm) + len(estate.erp_partners)
    truth = estate.truth.records
    by_cluster = clusters.with_columns(pl.struct("system", "record_id").map_elements(
        lambda k: truth[(k["system"], k["record_id"])], return_dtype=pl.String).alias("company"))
    # No cluster mixes two companies; with so few records to learn from, a company may stay
    # split (its pair goes to review), but nearly all are whole.
    assert by_cluster.group_by("cluster_id").agg(pl.col("company").n_unique())["company"].max() == 1
    split = by_cluster.group_by("company").agg(pl.col("cluster_id").n_unique()).filter(pl.col("cluster_id") > 1)
    assert split.height <= 0.05 * len(crm)


def test_a_wrong_input_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["match", "no-spec-given.csv", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 1 and "FILE=SPEC" in result.output
