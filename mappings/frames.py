"""Apply a MappingSpec to a whole polars frame of raw records at once, column by column.

``mappings.engine`` maps one record at a time (80 to 130 µs a record); a reconcile of a
million companies has about three million records, and almost all of that time goes to
calling the normalizers (phone numbers, VAT IDs, IBANs) row by row. ``map_frame`` runs
the same specs with the same normalizers and gives, record for record, what
``map_record_with_warnings`` gives:

- blank-to-None, templates and the country-first rule are polars expressions;
- each normalizer is called once per distinct (raw value, country) pair and joined back
  (once per distinct raw value for normalizers that ignore the country);
- the Customer model still validates every value: a ``str`` into a ``str | None`` field is
  kept as it is by pydantic (Customer has no string constraints), anything else is put
  through ``Customer.model_validate`` once per distinct value, and a record holding a value
  the model rejects is handed to ``map_record_with_warnings`` so that the very same
  ``ValidationError`` is raised;
- with ``workers=2`` the distinct values of the expensive fields are normalized in worker
  processes (a pool kept for the life of the process), for a batch job on a multi-core machine.
  In generated estates nearly every phone, IBAN and VAT ID is distinct, so the libraries'
  own cost (phonenumbers about 25 µs a number) bounds the speed and the pool, not the
  deduplication, is what halves the wall time on two idle cores.

Only top-level sources are supported, as text columns: a spec with dotted nested sources
(ARES ``sidlo.nazevObce``) raises ``UnsupportedSpec``, and callers map those records
with ``mappings.engine.map_record`` instead (``frame_supported`` says which).
"""

from __future__ import annotations

import atexit
import multiprocessing
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from types import NoneType
from typing import Any, get_args

import polars as pl
from pydantic import ValidationError

from core.errors import ConfigError
from mappings.customer import CUSTOMER_FIELDS, Customer, _jsonable
from mappings.engine import map_record_with_warnings
from mappings.errors import InvalidValue
from mappings.normalizers import COUNTRY_FREE, NORMALIZERS
from mappings.spec import FieldMapping, MappingSpec

__all__ = ["FrameMapping", "UnsupportedSpec", "frame_supported", "map_frame", "present", "shutdown_workers"]

# Python's ``not s.strip()``: Rust's \s is Unicode White_Space, which lacks the four
# information separators that str.isspace() counts (tests compare every code point).
_BLANK = r"^[\s\x1c-\x1f]*$"
# Fields pydantic keeps as they are when given a str; the rest are validated per distinct value.
_STR_FIELDS = frozenset(n for n, f in Customer.model_fields.items()
                        if set(get_args(f.annotation)) == {str, NoneType})
_INT_FIELDS = frozenset(n for n, f in Customer.model_fields.items()
                        if set(get_args(f.annotation)) == {int, NoneType})
_PARALLEL_FROM = 5_000  # distinct values below this are not worth shipping to a worker
_ID = "record_id"


def _c(kind: str, name: str = "") -> str:
    """An internal column: NUL-prefixed so that no system's column name can clash."""
    return f"\x00{kind}:{name}"


class UnsupportedSpec(ConfigError, ValueError):
    """The spec reads nested sources; map its records with ``mappings.engine.map_record``."""


@dataclass(frozen=True)
class FrameMapping:
    records: pl.DataFrame  # record_id + CUSTOMER_FIELDS, all String: Customer.present() as text
    quarantined: pl.DataFrame  # record_id, reason (str(MappingError))
    warnings: pl.DataFrame  # record_id, field, reason (str(FieldIssue)) of mapped records

    def presents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(record_id, the dict ``Customer.present()`` returns) for every mapped record."""
        for row in self.records.iter_rows(named=True):
            yield row[_ID], present(row)


def present(row: Mapping[str, str | None]) -> dict[str, Any]:
    """A ``records`` row as ``Customer.present()``: fields with a value, integers as int."""
    return {name: int(value) if name in _INT_FIELDS else value
            for name in CUSTOMER_FIELDS if (value := row.get(name)) is not None}


def frame_supported(spec: MappingSpec) -> bool:
    return not any("." in source for rule in spec.fields.values() for source in rule.read_sources)


def map_frame(spec: MappingSpec, raw: pl.DataFrame, *, id_column: str | None = None,
              workers: int = 1) -> FrameMapping:
    """Map every row of ``raw`` (the system's raw columns as text) as map_record would.

    ``id_column`` names the column that identifies a row in the result (default: the
    spec's record id). A column the frame lacks is read as absent, like a missing key.
    """
    if not frame_supported(spec):
        raise UnsupportedSpec(f"spec {spec.system!r} reads nested sources; use map_record")
    id_column = id_column or spec.record_id
    frame = _text_columns(raw, {*spec.source_columns(), id_column})
    frame = frame.with_columns(pl.col(id_column).alias(_c("id")))
    # Country first: the record's normalized country, or the default, is what the others read in.
    order = sorted(spec.fields, key=lambda name: name != "country")
    pool = _pool(workers) if workers > 1 else None
    pending: list[tuple[str, _Pending]] = []
    country = pl.lit(spec.default_country, pl.String)
    for name in order:
        rule = spec.fields[name]
        read_in = country if _uses_country(rule) and name != "country" else pl.lit(None, pl.String)
        frame = frame.with_columns(_raw_expr(rule).alias(_c("raw", name)),
                                   read_in.alias(_c("ctry", name)))
        keys = frame.select(_c("raw", name), _c("ctry", name)).drop_nulls(_c("raw", name)).unique()
        job = _submit(pool, name, rule, keys, spec.default_country if name == "country" else None)
        if name == "country":  # the value map_record keeps in ``country`` for the fields after it
            frame = _join(frame, name, job.result())
            held = (pl.when(pl.col(_c("raw", name)).is_null()).then(pl.lit(rule.default, pl.String))
                    .otherwise(pl.col(_c("norm", name))))
            country = pl.coalesce(held, pl.lit(spec.default_country, pl.String))
        else:
            pending.append((name, job))
        if rule.fallback is not None:
            frame, fallback_job = _fallback(frame, pool, name, rule, country)
            pending.append((_fallback_name(name), fallback_job))
    for name, job in pending:
        frame = _join(frame, name, job.result())
    return _assemble(spec, frame, raw, order)


def _fallback_name(name: str) -> str:
    return f"{name}\x00fallback"


def _fallback(frame: pl.DataFrame, pool: ProcessPoolExecutor | None, name: str, rule: FieldMapping,
              country: pl.Expr) -> tuple[pl.DataFrame, _Pending]:
    """The fallback source's raw value where the field's own is absent, normalized per distinct
    value like a field of its own (its columns under ``_fallback_name``)."""
    assert rule.fallback is not None
    own = FieldMapping(source=rule.fallback.source, normalizer=rule.fallback.normalizer)
    alias = _fallback_name(name)
    read = pl.when(pl.col(_c("raw", name)).is_null()).then(_blank_to_none(own.sources[0]))
    read_in = country if _uses_country(own) else pl.lit(None, pl.String)
    frame = frame.with_columns(read.alias(_c("raw", alias)), read_in.alias(_c("ctry", alias)))
    keys = frame.select(_c("raw", alias), _c("ctry", alias)).drop_nulls(_c("raw", alias)).unique()
    return frame, _submit(pool, name, own, keys, None)


def _text_columns(raw: pl.DataFrame, columns: set[str]) -> pl.DataFrame:
    """The columns the spec reads, as String; missing ones null like a payload's missing key."""
    exprs = []
    for column in sorted(columns):
        if column not in raw.columns:
            exprs.append(pl.lit(None, pl.String).alias(column))
        elif raw.schema[column] in (pl.String, pl.Null):
            exprs.append(pl.col(column).cast(pl.String))
        else:  # a number's repr differs from its text in quarantine reasons: not guessed here
            raise TypeError(f"column {column!r} is {raw.schema[column]}, not text")
    return raw.select(exprs)


def _blank_to_none(column: str) -> pl.Expr:
    return pl.when(pl.col(column).str.contains(_BLANK)).then(None).otherwise(pl.col(column))


def _raw_expr(rule: FieldMapping) -> pl.Expr:
    """The raw value engine._raw_value hands the normalizer: the text, or the rendered template."""
    template = rule.parsed_template()
    if template is None:
        return _blank_to_none(rule.sources[0])
    text: pl.Expr = pl.lit(None, pl.String)
    for index, part in enumerate(template.parts):
        value = pl.coalesce([_blank_to_none(n) for n in part.names])
        if index == 0:  # the first part's literal is written whenever it has a value
            text = pl.lit(part.before) + value
        else:  # a missing part drops its separator; nothing before it drops the separator too
            text = (pl.when(value.is_null()).then(text).when(text.is_null()).then(value)
                    .otherwise(text + pl.lit(part.before) + value))
    return text + pl.lit(template.after)


def _uses_country(rule: FieldMapping) -> bool:
    return rule.normalizer not in COUNTRY_FREE


# Per distinct key: the normalizer's value for "country" (read by the others), the field's
# JSON-ready text, the FieldIssue message on failure, and whether the model rejects the value.
_Outcomes = tuple[list[Any], list[str | None], list[str | None], list[bool]]


class _Pending:
    def __init__(self, keys: pl.DataFrame, futures: Sequence[Future[_Outcomes]] | None = None,
                 done: _Outcomes | None = None) -> None:
        self.keys, self._futures, self._done = keys, futures, done

    def result(self) -> tuple[pl.DataFrame, _Outcomes]:
        if self._done is None:
            parts = [f.result() for f in self._futures or ()]
            joined = tuple([x for part in parts for x in part[i]] for i in range(4))
            self._done = joined  # type: ignore[assignment]
        return self.keys, self._done  # type: ignore[return-value]


def _submit(pool: ProcessPoolExecutor | None, name: str, rule: FieldMapping, keys: pl.DataFrame,
            fixed_country: str | None) -> _Pending:
    raws = keys.get_column(keys.columns[0]).to_list()
    countries = (keys.get_column(keys.columns[1]).to_list() if fixed_country is None
                 else [fixed_country] * len(raws))
    args = (name, rule)
    if pool is None or len(raws) < _PARALLEL_FROM:
        return _Pending(keys, done=_normalize(*args, raws, countries))
    half = (len(raws) + 1) // 2
    futures = [pool.submit(_normalize, *args, raws[i:i + half], countries[i:i + half])
               for i in range(0, len(raws), half)]
    return _Pending(keys, futures=futures)


def _normalize(name: str, rule: FieldMapping, raws: list[str],
               countries: list[str | None]) -> _Outcomes:
    """engine._map_field and Customer validation for distinct raw values (also in a worker)."""
    fn = NORMALIZERS[rule.normalizer]
    outcomes: _Outcomes = ([], [], [], [])
    values, texts, issues, rejected = outcomes
    for raw, country in zip(raws, countries, strict=True):
        try:
            value = fn(rule.aliased(raw), country)
        except InvalidValue as exc:
            value, text, issue, bad = None, None, f"{exc.label} {raw!r}: {exc.reason}", False
        else:  # the issue text above is FieldIssue.message
            (text, bad), issue = _validated(name, value), None
        values.append(value if name == "country" else None)
        texts.append(text)
        issues.append(issue)
        rejected.append(bad)
    return outcomes


_VALIDATED: dict[tuple[str, type, str], tuple[str | None, bool]] = {}


def _validated(name: str, value: Any) -> tuple[str | None, bool]:
    """The value as Customer.present() holds it, as text; True when the model rejects it."""
    if value is None or (type(value) is str and name in _STR_FIELDS):
        return value, False
    key = (name, type(value), repr(value))  # Decimal("1.0") == Decimal("1.00"), their reprs differ
    if key not in _VALIDATED:
        if len(_VALIDATED) > 100_000:  # amounts may all differ: a cache, not a second data set
            _VALIDATED.clear()
        try:
            held = _jsonable(getattr(Customer.model_validate({name: value}), name))
        except ValidationError:
            _VALIDATED[key] = (None, True)
        else:
            _VALIDATED[key] = (held if isinstance(held, str) else str(held), False)
    return _VALIDATED[key]


def _join(frame: pl.DataFrame, name: str, pending: tuple[pl.DataFrame, _Outcomes]) -> pl.DataFrame:
    keys, (values, texts, issues, rejected) = pending
    lookup = keys.with_columns(pl.Series(_c("norm", name), values, pl.String),
                               pl.Series(_c("val", name), texts, pl.String),
                               pl.Series(_c("err", name), issues, pl.String),
                               pl.Series(_c("bad", name), rejected, pl.Boolean))
    return frame.join(lookup, on=[_c("raw", name), _c("ctry", name)], how="left",
                      nulls_equal=True, maintain_order="left")


def _assemble(spec: MappingSpec, frame: pl.DataFrame, raw: pl.DataFrame,
              order: list[str]) -> FrameMapping:
    fields = spec.fields
    record_id = pl.col(_c("id")).cast(pl.String).alias(_ID)
    # A source holding nothing gives the rule's default (checked against the model on load).
    values = {name: pl.when(pl.col(_c("raw", name)).is_null()).then(_absent(name, fields[name]))
              .otherwise(pl.col(_c("val", name))) for name in order}
    frame = frame.with_columns([e for n in order if fields[n].fallback for e in _with_fallback(n)])
    errors = [pl.col(_c("err", n)) for n in order if fields[n].on_error == "quarantine"]
    failed = pl.any_horizontal([e.is_not_null() for e in errors]) if errors else pl.lit(False)
    rejected = pl.any_horizontal(pl.lit(False),
                                 *[pl.col(_c("bad", n)).fill_null(False) for n in order])
    frame = frame.with_row_index(_c("row")).with_columns(failed.alias(_c("failed")),
                                                         rejected.alias(_c("rejected")))
    ok = frame.filter(~pl.col(_c("failed")))
    if ok.select(pl.col(_c("rejected")).any()).item():  # the model rejects a value: raise its error
        row = ok.filter(pl.col(_c("rejected"))).get_column(_c("row"))[0]
        map_record_with_warnings(spec, raw.row(row, named=True))
        raise AssertionError("Customer accepted a value the frame engine found rejected")
    absent = pl.lit(None, pl.String)
    records = ok.select(record_id, *[values.get(f, absent).alias(f) for f in CUSTOMER_FIELDS])
    reason = pl.concat_str(errors, separator="; ", ignore_nulls=True) if errors else pl.lit("")
    quarantined = frame.filter(pl.col(_c("failed"))).select(record_id, reason.alias("reason"))
    # Warnings in map_record's order: record by record, field by field.
    warnings = [ok.filter(pl.col(_c("err", n)).is_not_null()).select(
        _c("row"), pl.lit(i).alias(_c("ordinal")), record_id, pl.lit(n).alias("field"),
        pl.col(_c("err", n)).alias("reason"))
        for i, n in enumerate(n for n in order if fields[n].on_error == "drop")]
    empty = pl.DataFrame(schema=dict.fromkeys((_ID, "field", "reason"), pl.String))
    dropped = (pl.concat(warnings).sort(_c("row"), _c("ordinal")).drop(_c("row"), _c("ordinal"))
               if warnings else empty)
    return FrameMapping(records, quarantined, dropped)


def _absent(name: str, rule: FieldMapping) -> pl.Expr:
    """A field whose own source holds nothing: the fallback's value, or else the default."""
    default = pl.lit(_validated(name, rule.default)[0], pl.String)
    if rule.fallback is None:
        return default
    value, error = pl.col(_c("val", _fallback_name(name))), pl.col(_c("err", _fallback_name(name)))
    return pl.when(value.is_null() & error.is_null()).then(default).otherwise(value)


def _with_fallback(name: str) -> list[pl.Expr]:
    """The fallback's failure as the field's (one of the two is absent on every row)."""
    other = _fallback_name(name)
    return [pl.coalesce(_c("err", name), _c("err", other)).alias(_c("err", name)),
            (pl.col(_c("bad", name)).fill_null(False) | pl.col(_c("bad", other)).fill_null(False))
            .alias(_c("bad", name))]


_POOL: dict[int, ProcessPoolExecutor] = {}


def shutdown_workers() -> None:
    """Stop the worker processes now (a batch job's mapping is over) rather than at exit."""
    while _POOL:
        _POOL.popitem()[1].shutdown()


def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool per process, reused: spawned workers load the normalizers' data once."""
    if workers not in _POOL:
        # spawn, not fork: forking a process that runs polars' thread pool can deadlock.
        _POOL[workers] = ProcessPoolExecutor(workers,
                                             mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_POOL[workers].shutdown)
    return _POOL[workers]

