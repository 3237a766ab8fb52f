"""``custhub match``: link CSV files (one per system, each read through a mapping spec) into clusters.

For a one-off de-duplication of a list, or to see which golden record each row of a list
belongs to (``golden``: the store's current golden records take part as records of the
system "golden", and a cluster that holds one takes its hub id as cluster id).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from core.errors import ConfigError, DataError
from mappings.customer import CUSTOMER_FIELDS
from mappings.engine import load_spec, map_record
from mappings.errors import MappingError
from mappings.spec import MappingSpec
from reconciliation.matching import Linker, LinkResult, MatchSettings

GOLDEN = "golden"
OUTPUT_COLUMNS = ("system", "record_id", "cluster_id", "rule", "probability")


@dataclass
class MatchInput:
    path: Path
    spec: str  # a spec name under mappings/specs, or a path to a spec YAML file
    system: str | None = None  # default: the spec's system


@dataclass
class FileMatch:
    clusters: pl.DataFrame  # OUTPUT_COLUMNS
    result: LinkResult
    rejected: list[str] = field(default_factory=list)  # "file:line: why" for rows that do not map


def parse_input(text: str) -> MatchInput:
    """``path.csv=spec`` or ``path.csv=spec:system``."""
    path, sep, rest = text.rpartition("=")
    if not sep or not path:
        raise ConfigError(f"{text!r}: expected FILE=SPEC, e.g. customers.csv=erp")
    spec, _, system = rest.partition(":")
    return MatchInput(Path(path), spec, system or None)


def match_files(inputs: Sequence[MatchInput], settings: MatchSettings,
                golden: dict[str, dict[str, object]] | None = None) -> FileMatch:
    rows: list[dict[str, object]] = []
    rejected: list[str] = []
    for item in inputs:
        spec = load_spec(item.spec)
        read, bad = _read(item, spec)
        rows += read
        rejected += bad
    for hub_id, values in (golden or {}).items():
        rows.append({"system": GOLDEN, "record_id": hub_id, "hub_id": hub_id, **values})
    result = Linker(settings).link(_frame(rows))
    return FileMatch(_cluster_ids(result.clusters), result, rejected)


def write_clusters(clusters: pl.DataFrame, out: Path) -> None:
    clusters.select(OUTPUT_COLUMNS).write_csv(out)


def _read(item: MatchInput, spec: MappingSpec) -> tuple[list[dict[str, object]], list[str]]:
    fmt = spec.format
    encoding = fmt.encoding if fmt else "utf-8-sig"
    try:
        with item.path.open(encoding=encoding, newline="") as handle:
            reader = csv.DictReader(handle, delimiter=fmt.delimiter if fmt else ",",
                                    quotechar=fmt.quotechar if fmt else '"')
            _require_id_column(item, spec, reader.fieldnames or [])
            return _map_rows(item, spec, reader)
    except UnicodeDecodeError as e:
        raise DataError(f"{item.path}: not {encoding} as spec {item.spec!r} says (byte {e.start})") from e
    except OSError as e:
        raise DataError(f"{item.path}: cannot read: {e.strerror or e}") from e


def _map_rows(item: MatchInput, spec: MappingSpec,
              reader: csv.DictReader[str]) -> tuple[list[dict[str, object]], list[str]]:
    rows, bad = [], []
    for line, payload in enumerate(reader, start=2):
        try:
            values = map_record(spec, payload).present()
        except MappingError as e:
            bad.append(f"{item.path}:{line}: {e}")
            continue
        rows.append({"system": item.system or spec.system, "record_id": str(payload[spec.record_id]),
                     **values})
    return rows, bad


def _require_id_column(item: MatchInput, spec: MappingSpec, columns: Sequence[str]) -> None:
    if spec.record_id not in columns:
        shown = ", ".join(columns[:8]) + (", …" if len(columns) > 8 else "")
        raise DataError(f"{item.path}: no column {spec.record_id!r}, the record id of spec {item.spec!r} "
                        f"(columns: {shown or 'none'})")


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    schema = {"system": pl.String, "record_id": pl.String, "hub_id": pl.String,
              **{f: pl.String for f in CUSTOMER_FIELDS}}
    data = [{k: None if r.get(k) is None else str(r[k]) for k in schema} for r in rows]
    return pl.DataFrame(data, schema=schema)


def _cluster_ids(clusters: pl.DataFrame) -> pl.DataFrame:
    """A cluster holding a golden record is named by its hub id; the others C000001, C000002…
    in the order of their first record, so that the same input gives the same ids."""
    first = (clusters.group_by("cluster").agg(pl.min_horizontal(pl.col("system") + ":" + pl.col("record_id")).min()
                                              .alias("_first"))
             .sort("_first").with_row_index("_n", offset=1))
    named = clusters.join(first, on="cluster").with_columns(
        pl.coalesce(pl.col("hub_id"), pl.format("C{}", pl.col("_n").cast(pl.String).str.zfill(6))).alias("cluster_id"))
    return named.sort("system", "record_id").select(OUTPUT_COLUMNS)
