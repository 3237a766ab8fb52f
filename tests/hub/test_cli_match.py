"""``custhub match``: CSV files in, clusters out, with the hub's own match rules."""

from __future__ import annotations

import csv
import json
import os
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


def test_column_wise_mapping_gives_what_row_by_row_mapping_gives(tmp_path: Path) -> None:
    from hub.match_files import MatchInput, _map_batch, _map_rows
    from mappings.engine import load_spec

    estate = generate(120, seed=7, options=Options(without_ids=0.2, varied_names=True))
    for rows, spec_name in ((estate.crm_accounts, "crm"), (estate.erp_partners, "erp")):
        spec = load_spec(spec_name)
        batch = [(n, {k: "" if v is None else str(v) for k, v in row.items()})
                 for n, row in enumerate(rows, start=2)]
        item = MatchInput(tmp_path / f"{spec_name}.csv", spec_name)
        framed, framed_bad = _map_batch(item, spec, batch)
        by_row, row_bad = _map_rows(item, spec, batch, spec.system)
        assert framed.sort("record_id").equals(by_row.sort("record_id"))
        assert framed_bad == row_bad


def test_every_rejected_row_goes_to_a_file_with_its_reason(tmp_path: Path) -> None:
    """Through the installed command: 30 rows with an invalid IČO are written out one by one,
    and the output says how many and where, so that none is lost unnoticed."""
    import subprocess
    import sys

    estate = generate(80, seed=5)
    crm = [dict(r) for r in estate.crm_accounts]
    broken = {r["AccountId"] for r in crm if r["AccountId"].startswith("CRM-BROKEN")}
    for row in [r for r in crm if r["CountryCode"] == "CZ"][:30]:
        row["CompanyId"] = "12345678"  # a wrong checksum: the spec quarantines a Czech record
        broken.add(row["AccountId"])
    _write(tmp_path / "crm.csv", crm, "utf-8", ",")
    out = tmp_path / "clusters.csv"
    done = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", "match",
                           f"{tmp_path / 'crm.csv'}=crm", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    rejected_file = tmp_path / "clusters.csv.rejected.csv"
    assert f"{len(broken)} rows rejected" in done.stdout and str(rejected_file) in done.stdout
    with rejected_file.open(encoding="utf-8", newline="") as handle:
        rejected = list(csv.DictReader(handle))
    assert {r["record_id"] for r in rejected} == broken
    assert all(r["reason"] and json.loads(r["row"])["AccountId"] == r["record_id"] for r in rejected)
    lines = {r["AccountId"]: n for n, r in enumerate(crm, start=2)}
    assert all(int(r["line"]) == lines[r["record_id"]] for r in rejected), "the file's own line numbers"
    clusters = pl.read_csv(out, schema_overrides={"record_id": pl.String})
    assert clusters.height + len(rejected) == len(crm), "every row is clustered or rejected"
    _write(tmp_path / "erp.csv", estate.erp_partners, "cp1250", ";")
    rerun = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", "match",
                            f"{tmp_path / 'erp.csv'}=erp", "--out", str(out)], capture_output=True, text=True,
                           timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert rerun.returncode == 0 and "0 rows rejected" in rerun.stdout, rerun.stderr
    assert not rejected_file.exists(), "no stale list of rejected rows from an earlier match"


def test_hub_yamls_country_aliases_reach_custhub_match(tmp_path: Path) -> None:
    import yaml

    from hub.config import DEFAULT_CONFIG

    estate = generate(20, seed=4)
    crm = [r for r in estate.crm_accounts if not r["AccountId"].startswith("CRM-BROKEN")]
    crm = [r for r in crm if r["CountryCode"] == "CZ"]
    crm[0]["CountryCode"] = "Čechy"  # a spelling no table knows; this firm's own alias
    _write(tmp_path / "crm.csv", crm, "utf-8", ",")
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    rejected = {}
    for name, aliases in (("plain", {}), ("aliased", {"Čechy": "CZ"})):
        raw["mapping"] = {**raw.get("mapping", {}), "country_aliases": aliases}
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        out = tmp_path / f"{name}.csv"
        result = CliRunner().invoke(app, ["match", f"{tmp_path / 'crm.csv'}=crm", "--out", str(out),
                                          "--config", str(config)])
        assert result.exit_code == 0, result.output
        rejected[name] = pl.read_csv(out, schema_overrides={"record_id": pl.String})["record_id"].to_list()
    assert crm[0]["AccountId"] not in rejected["plain"] and crm[0]["AccountId"] in rejected["aliased"]
