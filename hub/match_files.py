"""``custhub match``: link CSV files (one per system, each read through a mapping spec) into clusters.

For a one-off de-duplication of a list, or to see which golden record each row of a list
belongs to (``golden``: the store's current golden records take part as records of the
system "golden", and a cluster that holds one takes its hub id as cluster id).

Rows are mapped column-wise (``mappings.frames.map_frame``), a batch at a time. A row that
does not map is never dropped silently: ``write_rejected`` puts every one, with its reason
and its cells, next to the clusters file.

By default the records are Customers, read through mapping specs and linked by hub.yaml's
``matching:``. With a record schema (``--schema``, ``reconciliation.matching.schema``) they
are whatever the schema describes, persons for instance: each file's columns are the
schema's fields (``match_schema_files``), normalized and linked by the schema's own rules.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import polars as pl

from core.errors import ConfigError, DataError
from mappings.customer import CUSTOMER_FIELDS
from mappings.engine import load_spec, map_record
from mappings.errors import MappingError
from mappings.frames import frame_supported, map_frame, shutdown_workers
from mappings.record_fields import FieldRule, read_fields
from mappings.spec import MappingSpec
from reconciliation.matching import Linker, LinkResult, MatchSettings
from reconciliation.matching.explain import explain, render
from reconciliation.matching.schema import RecordSchema

GOLDEN = "golden"
OUTPUT_COLUMNS = ("system", "record_id", "cluster_id", "rule", "probability")
REJECTED_COLUMNS = ("file", "line", "record_id", "reason", "row")
BATCH = 100_000  # rows mapped at a time: the normalizers' distinct values are found per batch
_ROW = "\x00row"  # the batch position: a column no file has
_ID = "record_id"  # the id column of map_frame's records
_SCHEMA = {"system": pl.String, "record_id": pl.String, "hub_id": pl.String,
           **dict.fromkeys(CUSTOMER_FIELDS, pl.String)}


@dataclass
class MatchInput:
    path: Path
    spec: str  # a spec name under mappings/specs, or a path to a spec YAML file
    system: str | None = None  # default: the spec's system


@dataclass(frozen=True)
class Rejected:
    """A row that did not map: where it is, its id, why, and the row itself."""

    path: Path
    line: int
    record_id: str
    reason: str
    row: dict[str, str]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class FileMatch:
    clusters: pl.DataFrame  # OUTPUT_COLUMNS
    result: LinkResult
    rejected: list[Rejected] = field(default_factory=list)  # every row that does not map


def parse_input(text: str) -> MatchInput:
    """``path.csv=spec`` or ``path.csv=spec:system``."""
    path, sep, rest = text.rpartition("=")
    if not sep or not path:
        raise ConfigError(f"{text!r}: expected FILE=SPEC, e.g. customers.csv=erp")
    spec, _, system = rest.partition(":")
    return MatchInput(Path(path), spec, system or None)


def parse_schema_input(text: str) -> MatchInput:
    """``path.csv`` or ``path.csv=system`` (default: the file's name without its suffix): with a
    record schema, the schema says how every file's columns are read."""
    path, sep, system = text.rpartition("=")
    if not sep:
        path, system = text, ""
    if not path:
        raise ConfigError(f"{text!r}: expected FILE or FILE=SYSTEM, e.g. persons.csv=registry")
    return MatchInput(Path(path), "", system or Path(path).stem)


def match_schema_files(inputs: Sequence[MatchInput], schema: RecordSchema, explain: bool = False) -> FileMatch:
    """Link CSV files of ``schema``'s records by its rules: each file read whole and its fields
    normalized column-wise (once per distinct value); every row that does not map is returned."""
    frames: list[pl.DataFrame] = []
    rejected: list[Rejected] = []
    for item in inputs:
        mapped, bad = _read_schema_file(item, schema)
        frames.append(mapped)
        rejected += bad
    records = pl.concat(frames, how="vertical") if frames else _schema_frame(schema)
    result = Linker(schema.matching).link(records, explain=explain)
    return FileMatch(_cluster_ids(result.clusters), result, rejected)


def match_files(inputs: Sequence[MatchInput], settings: MatchSettings,
                golden: dict[str, dict[str, object]] | None = None, workers: int = 1,
                country_aliases: Mapping[str, str] | None = None, explain: bool = False) -> FileMatch:
    """``workers``: processes that normalize the distinct values (phone numbers, VAT IDs), for
    a multi-core machine; their libraries, not the engine, bound the mapping's speed.
    ``country_aliases``: hub.yaml's ``mapping.country_aliases``, read as the nightly reads them;
    ``explain``: keep the scored pairs for ``write_explain``."""
    frames: list[pl.DataFrame] = []
    rejected: list[Rejected] = []
    for item in inputs:
        spec = load_spec(item.spec).with_aliases("country", dict(country_aliases or {}))
        for mapped, bad in _read(item, spec, workers):
            frames.append(mapped)
            rejected += bad
    if golden:
        frames.append(_frame([{"system": GOLDEN, "record_id": hub_id, "hub_id": hub_id, **values}
                              for hub_id, values in golden.items()]))
    shutdown_workers()
    result = Linker(settings).link(pl.concat(frames, how="vertical") if frames else _frame([]), explain=explain)
    return FileMatch(_cluster_ids(result.clusters), result, rejected)


def write_clusters(clusters: pl.DataFrame, out: Path) -> None:
    clusters.select(OUTPUT_COLUMNS).write_csv(out)


def rejected_path(out: Path) -> Path:
    return out.with_name(out.name + ".rejected.csv")


def write_rejected(rejected: Sequence[Rejected], out: Path) -> Path | None:
    """Every rejected row next to the clusters file, with its reason and its cells (as JSON),
    so that none is lost unnoticed; no file (and none left from an earlier match) when none is."""
    path = rejected_path(out)
    if not rejected:
        path.unlink(missing_ok=True)
        return None
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECTED_COLUMNS)
        writer.writerows([str(r.path), r.line, r.record_id, r.reason, json.dumps(r.row, ensure_ascii=False)]
                         for r in rejected)
    return path


def write_explain(result: LinkResult, settings: MatchSettings, path: Path) -> None:
    """The model's m and u, the match-weight histogram and sample pairs' waterfalls as one HTML page."""
    try:
        path.write_text(render(explain(settings, result)), encoding="utf-8")
    except OSError as e:
        raise DataError(f"{path}: cannot write the explain page: {e.strerror or e}") from e


def _read(item: MatchInput, spec: MappingSpec,
          workers: int = 1) -> Iterator[tuple[pl.DataFrame, list[Rejected]]]:
    """The file's rows mapped a batch at a time: (mapped records as a frame, rejected rows)."""
    fmt = spec.format
    encoding = fmt.encoding if fmt else "utf-8-sig"
    try:
        with item.path.open(encoding=encoding, newline="") as handle:
            reader = csv.DictReader(handle, delimiter=fmt.delimiter if fmt else ",",
                                    quotechar=fmt.quotechar if fmt else '"')
            _require_id_column(item, spec.record_id, reader.fieldnames or [], f"spec {item.spec!r}")
            rows = enumerate(reader, start=2)
            while batch := list(islice(rows, BATCH)):
                yield _map_batch(item, spec, batch, workers)
    except UnicodeDecodeError as e:
        raise DataError(f"{item.path}: not {encoding} as spec {item.spec!r} says (byte {e.start})") from e
    except OSError as e:
        raise DataError(f"{item.path}: cannot read: {e.strerror or e}") from e


def _read_schema_file(item: MatchInput, schema: RecordSchema) -> tuple[pl.DataFrame, list[Rejected]]:
    raw = _raw_csv(item, schema)
    _require_id_column(item, schema.record_id, raw.columns, f"schema {schema.name!r}")
    rules = {name: FieldRule(schema.source(name), spec.normalizer, spec.on_error == "reject")
             for name, spec in schema.fields.items()}
    ids = raw[schema.record_id].cast(pl.String).str.strip_chars()
    no_id = ids.is_null() | (ids == "")
    read = read_fields(raw, rules, schema.default_country)
    reasons = {row: reason for row, reason in read.rejected.iter_rows()}
    reasons |= {row: f"no record id in column {schema.record_id!r}" for row in no_id.arg_true().to_list()}
    first = 2 if schema.format.header else 1  # the file's line of the first row (one line a row)
    bad = [Rejected(item.path, first + row, ids[row] or "", why,
                    {k: v for k, v in raw.row(row, named=True).items() if v is not None})
           for row, why in sorted(reasons.items())]
    mapped = pl.int_range(0, raw.height, eager=True).is_in(read.rejected["row"].implode()).not_()
    keep = ~no_id.filter(mapped)
    records = read.records.filter(keep).with_columns(
        ids.filter(mapped).filter(keep).alias("record_id"), pl.lit(item.system, pl.String).alias("system"),
        pl.lit(None, pl.String).alias("hub_id"))
    return records.select(_schema_frame(schema).columns), bad


def _raw_csv(item: MatchInput, schema: RecordSchema) -> pl.DataFrame:
    """The file's cells as text, every column; header names without surrounding blanks."""
    fmt = schema.format
    try:
        text = item.path.read_bytes().decode(fmt.encoding)
    except UnicodeDecodeError as e:
        raise DataError(f"{item.path}: not {fmt.encoding} as schema {schema.name!r} says (byte {e.start})") from e
    except OSError as e:
        raise DataError(f"{item.path}: cannot read: {e.strerror or e}") from e
    try:
        raw = pl.read_csv(io.BytesIO(text.encode("utf-8")), separator=fmt.delimiter, quote_char=fmt.quotechar,
                          has_header=fmt.header, new_columns=list(fmt.columns) if fmt.columns else None,
                          infer_schema=False)
    except pl.exceptions.PolarsError as e:
        raise DataError(f"{item.path}: not a CSV file as schema {schema.name!r} says: "
                        f"{str(e).splitlines()[0]}") from e
    return raw.rename(lambda column: column.strip())


def _schema_frame(schema: RecordSchema) -> pl.DataFrame:
    return pl.DataFrame(schema={"system": pl.String, "record_id": pl.String, "hub_id": pl.String,
                                **dict.fromkeys(schema.fields, pl.String)})


def _map_batch(item: MatchInput, spec: MappingSpec, batch: list[tuple[int, dict[str, str]]],
               workers: int = 1) -> tuple[pl.DataFrame, list[Rejected]]:
    """Column-wise through ``map_frame`` (each normalizer once per distinct value); a spec it
    cannot run, or a batch holding a value the model rejects, row by row through ``map_record``."""
    system = item.system or spec.system
    if frame_supported(spec):
        columns = spec.source_columns()  # fallback sources included
        raw = pl.DataFrame({_ROW: [str(n) for n in range(len(batch))]} | {
            c: [payload.get(c) for _, payload in batch] for c in columns},
            schema={_ROW: pl.String} | dict.fromkeys(columns, pl.String))
        try:
            result = map_frame(spec, raw, id_column=_ROW, workers=workers)
        except MappingError:
            pass  # the model rejects a value: map_record names the row
        else:
            bad = [_rejected(item, spec, batch[int(n)], reason) for n, reason in result.quarantined.iter_rows()]
            ids = pl.Series("record_id", [str(batch[int(n)][1][spec.record_id]) for n in result.records[_ID]],
                            pl.String)
            mapped = result.records.with_columns(ids, pl.lit(system, pl.String).alias("system"),
                                                 pl.lit(None, pl.String).alias("hub_id"))
            return mapped.select(list(_SCHEMA)), bad
    return _map_rows(item, spec, batch, system)


def _map_rows(item: MatchInput, spec: MappingSpec, batch: list[tuple[int, dict[str, str]]],
              system: str) -> tuple[pl.DataFrame, list[Rejected]]:
    rows, bad = [], []
    for line, payload in batch:
        try:
            values = map_record(spec, payload).present()
        except MappingError as e:
            bad.append(_rejected(item, spec, (line, payload), str(e)))
            continue
        rows.append({"system": system, "record_id": str(payload[spec.record_id]), **values})
    return _frame(rows), bad


def _rejected(item: MatchInput, spec: MappingSpec, row: tuple[int, dict[str, str]], reason: str) -> Rejected:
    line, payload = row
    return Rejected(item.path, line, str(payload.get(spec.record_id, "")), reason, payload)


def _require_id_column(item: MatchInput, record_id: str, columns: Sequence[str], of: str) -> None:
    if record_id not in columns:
        shown = ", ".join(columns[:8]) + (", …" if len(columns) > 8 else "")
        raise DataError(f"{item.path}: no column {record_id!r}, the record id of {of} "
                        f"(columns: {shown or 'none'})")


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    data = [{k: None if r.get(k) is None else str(r[k]) for k in _SCHEMA} for r in rows]
    return pl.DataFrame(data, schema=_SCHEMA)


def _cluster_ids(clusters: pl.DataFrame) -> pl.DataFrame:
    """A cluster holding a golden record is named by its hub id; the others C000001, C000002…
    in the order of their first record, so that the same input gives the same ids."""
    first = (clusters.group_by("cluster").agg(pl.min_horizontal(pl.col("system") + ":" + pl.col("record_id")).min()
                                              .alias("_first"))
             .sort("_first").with_row_index("_n", offset=1))
    named = clusters.join(first, on="cluster").with_columns(
        pl.coalesce(pl.col("hub_id"), pl.format("C{}", pl.col("_n").cast(pl.String).str.zfill(6))).alias("cluster_id"))
    return named.sort("system", "record_id").select(OUTPUT_COLUMNS)
