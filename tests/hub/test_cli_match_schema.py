"""``custhub match --schema``: a record type other than the Customer, linked by the same engine."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from hub.config import load_config
from hub.match_files import MatchInput, _read, match_files, match_schema_files
from mappings.engine import load_spec
from reconciliation.matching.evaluation import pairwise_scores
from reconciliation.matching.schema import customer_schema
from sandbox.generator import Options, generate
from tests.reconciliation.persons import person_frame

ROOT = Path(__file__).resolve().parents[2]
PERSON = ROOT / "config" / "schemas" / "person.yaml"


def _custhub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})


def test_a_person_file_links_through_the_command_with_the_person_schema(tmp_path: Path) -> None:
    """Two lists of 400 persons in FEBRL4's layout (the copy with typos; the second file names
    its street column as the schema does, but lacks the state and the dates, as a file may),
    and a row without an id, which is rejected, not dropped."""
    records, truth = person_frame(400, seed=3)
    files = {}
    for system in ("a", "b"):
        rows = (records.filter(pl.col("system") == system)
                .select(pl.col("record_id").alias("rec_id"), "given_name", "surname", "street_number",
                        pl.col("street").alias("address_1"), "suburb", "postcode"))
        files[system] = tmp_path / f"{system}.csv"
        rows.write_csv(files[system])
    with files["b"].open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerow(["", "nobody", "knows", "1", "main street", "nowhere", "2000"])
    out = tmp_path / "clusters.csv"
    done = _custhub("match", "--schema", str(PERSON), str(files["a"]), f"{files['b']}=b", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "800 records in" in done.stdout and "1 rows rejected" in done.stdout, done.stdout
    clusters = pl.read_csv(out, schema_overrides={"record_id": pl.String}).rename({"cluster_id": "cluster"})
    assert set(clusters["system"]) == {"a", "b"}  # the file's name, or the system given after =
    scores = pairwise_scores(clusters, truth)
    assert scores.precision >= 0.99 and scores.recall >= 0.95, scores
    rejected = pl.read_csv(tmp_path / "clusters.csv.rejected.csv")
    assert rejected.select("line", "reason").rows() == [(402, "no record id in column 'rec_id'")]


def test_a_bad_schema_is_a_one_line_error_without_a_traceback(tmp_path: Path) -> None:
    schema = tmp_path / "person.yaml"
    schema.write_text(PERSON.read_text(encoding="utf-8").replace("  given_name: {}", "  given_name: {normalizer: x}"),
                      encoding="utf-8")
    people = tmp_path / "people.csv"
    people.write_text("rec_id,given_name\n1,ann\n", encoding="utf-8")
    done = _custhub("match", "--schema", str(schema), str(people), "--out", str(tmp_path / "out.csv"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {schema}: fields.given_name.normalizer: unknown normalizer 'x'")


def test_the_customer_schema_gives_what_the_mapping_specs_and_hub_rules_give(tmp_path: Path) -> None:
    """The default (Customers through the specs, hub.yaml's rules) and the schema path over the
    same Customer records, written out as files of the Customer's fields: the same clusters."""
    estate = generate(80, seed=4, options=Options(without_ids=0.3, varied_names=True))
    inputs = []
    for system, rows in (("crm", estate.crm_accounts), ("erp", estate.erp_partners)):
        path = tmp_path / f"{system}.csv"
        pl.DataFrame(rows, infer_schema_length=None).cast(pl.String).write_csv(path)
        inputs.append(MatchInput(path, system if system == "crm" else str(tmp_path / "erp-utf8.yaml")))
    # The ERP's spec reads cp1250 with ';': the same spec, told the file is plain CSV.
    spec = load_spec("erp").model_dump(by_alias=True, exclude_none=True)
    spec.pop("format", None)
    import yaml
    (tmp_path / "erp-utf8.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    matching = load_config().matching
    default = match_files(inputs, matching)
    customers = []
    for item in inputs:
        mapped = pl.concat([frame for frame, _ in _read(item, load_spec(item.spec))])
        path = tmp_path / f"{item.path.stem}-customers.csv"
        mapped.drop("system", "hub_id").write_csv(path)
        customers.append(MatchInput(path, "", mapped["system"][0]))
    by_schema = match_schema_files(customers, customer_schema(matching))
    assert by_schema.rejected == []
    assert by_schema.clusters.equals(default.clusters)
    assert default.clusters["cluster_id"].n_unique() < default.clusters.height  # something was linked
