"""A record type as data: its fields, how each is normalized, and how two records are compared.

The hub keeps one canonical model, the Customer (``mappings.customer``): mapping specs fill its
fields and hub.yaml's ``matching:`` compares them. ``custhub match --schema FILE`` links any
other record type with the same engine: the schema file names the fields (each read from a
column of the input files through a normalizer of ``mappings.normalizers``) and carries its own
``matching:`` section over those fields, checked as hub.yaml's is (config/schemas/person.yaml).
Without a schema, the Customer's (``customer_schema``) is used: the hub's own rules.

Every problem of a schema file is reported at once, one line each: ``file: dotted.key: what``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ModelWrapValidatorHandler,
                      ValidationError, field_validator, model_validator)

from core.errors import ConfigError
from core.formats import FileFormat
from core.validation import as_mapping, describe, dotted, problems_of, validate_all
from mappings.customer import CUSTOMER_FIELDS
from mappings.normalizers import NORMALIZERS
from mappings.spec import DefaultCountry
from reconciliation.matching.settings import MatchSettings

# Columns the engine and ``custhub match`` add to every record: no field may take their names.
RESERVED = frozenset({"system", "record_id", "hub_id", "previous_hub_id", "cluster", "cluster_id"})
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class SchemaError(ConfigError, ValueError):
    """A record schema that cannot be used; one line per problem, each naming the file and key."""


def _known_normalizer(name: str) -> str:
    if name not in NORMALIZERS:
        raise ValueError(f"unknown normalizer {name!r}; known: {', '.join(sorted(NORMALIZERS))}")
    return name


class FieldSpec(BaseModel):
    """One field: the input column it is read from (default: the field's own name), the
    normalizer its values go through, and what a value the normalizer rejects does to its row."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # Several columns: their values joined by a space (both names, to compare them when swapped).
    source: str | list[Annotated[str, Field(min_length=1)]] | None = Field(None, alias="from", min_length=1)
    normalizer: Annotated[str, AfterValidator(_known_normalizer)] = "text"
    # reject: the row goes to the rejected rows with its reason; drop: the value is left empty.
    on_error: Literal["reject", "drop"] = "reject"


class _Fields(BaseModel):
    """A schema's own keys without its matching section: checked first, so that the section's
    column names are then checked against the fields this part holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    record_id: str = Field(min_length=1)  # the input column holding each row's id
    format: FileFormat = FileFormat()
    default_country: DefaultCountry = None  # what country-aware normalizers (phone) read numbers as
    fields: dict[str, FieldSpec] = Field(min_length=1)

    @model_validator(mode="wrap")
    @classmethod
    def _field_names(cls, data: Any, handler: ModelWrapValidatorHandler[_Fields]) -> _Fields:
        """Checked on the input: a field whose rule is wrong hides no badly named one."""
        names = [n for n in as_mapping(as_mapping(data).get("fields"))]
        bad = [n for n in names if not isinstance(n, str) or not _NAME.fullmatch(n) or n in RESERVED]
        problem = (("fields",), f"field names must be identifiers other than {', '.join(sorted(RESERVED))}: "
                                f"{', '.join(repr(n) for n in bad)}")
        return validate_all(data, handler, [problem] if bad else [])

    @field_validator("format")
    @classmethod
    def _csv(cls, fmt: FileFormat) -> FileFormat:
        if fmt.type != "csv":
            raise ValueError("custhub match reads CSV files: type must be csv")
        return fmt

    def source(self, field: str) -> str | tuple[str, ...]:
        """The input column (or columns) a field is read from."""
        source = self.fields[field].source or field
        return source if isinstance(source, str) else tuple(source)


class RecordSchema(_Fields):
    """A record type: its fields and the rules that match two records of it."""

    matching: MatchSettings

    @model_validator(mode="after")
    def _matching_reads_fields(self) -> RecordSchema:
        # Checked again by settings_for when the file is loaded, with each problem at its key;
        # this holds for a schema built in code too.
        unknown = self.matching.source_columns() - set(self.fields)
        if unknown:
            raise ValueError(f"matching reads columns that are no field: {', '.join(sorted(unknown))}")
        return self


def settings_for(fields: frozenset[str]) -> type[MatchSettings]:
    """The match settings whose every column reference must name one of ``fields`` or a feature."""
    return _settings_class(fields)


@cache
def _settings_class(fields: frozenset[str]) -> type[MatchSettings]:
    return type("SchemaMatchSettings", (MatchSettings,), {"input_columns": fields, "__module__": __name__})


def customer_schema(matching: MatchSettings) -> RecordSchema:
    """The hub's own record type: the Customer's fields (already normalized by the mapping
    specs, so read as text) compared by hub.yaml's ``matching:``."""
    return RecordSchema(name="customer", record_id="record_id",
                        fields={name: FieldSpec() for name in CUSTOMER_FIELDS}, matching=matching)


def load_schema(path: Path) -> RecordSchema:
    """The record schema in ``path``; a SchemaError lists every problem, one line each."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise SchemaError(f"{path}: cannot read the record schema: {getattr(e, 'strerror', None) or e}") from e
    except yaml.YAMLError as e:
        raise SchemaError(f"{path}: not YAML: {' '.join(str(e).split())}") from e
    return parse_schema(raw, str(path))


def parse_schema(raw: Any, source: str = "<schema>") -> RecordSchema:
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{source}: a record schema is a mapping with name, record_id, fields and matching")
    problems = list(_problems(raw))
    if problems:
        raise SchemaError("\n".join(f"{source}: {key}: {message}" for key, message in problems))
    outer = {k: v for k, v in raw.items() if k != "matching"}
    matching = settings_for(frozenset(raw["fields"])).model_validate(raw["matching"])
    return RecordSchema.model_validate({**outer, "matching": matching})


def _problems(raw: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every problem of the schema's own keys and of its matching section, with its key."""
    outer = {k: v for k, v in raw.items() if k != "matching"}
    try:
        _Fields.model_validate(outer)
    except ValidationError as e:
        yield from describe(e)
    if "matching" not in raw:
        yield "matching", "missing: the rules that link two records (keys, blocking, comparisons)"
        return
    # The rules' columns against the fields named, whether or not each field's rule is right.
    fields = frozenset(n for n in as_mapping(raw.get("fields")) if isinstance(n, str))
    try:
        settings_for(fields).model_validate(raw["matching"])
    except ValidationError as e:
        yield from ((dotted(loc), message) for loc, message in problems_of(e, "matching"))

