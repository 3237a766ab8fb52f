"""Apply a MappingSpec: a system's raw record to a canonical Customer, and back.

Mapping is all-or-nothing per record: every field is tried, and if any field whose
rule says ``on_error: quarantine`` fails, ``MappingError`` carries every reason at
once. Fields with ``on_error: drop`` become None and are reported as warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from mappings.customer import CUSTOMER_FIELDS, Customer
from mappings.errors import FieldIssue, InvalidValue, MappingError
from mappings.normalizers import NORMALIZERS
from mappings.normalizers._common import as_str
from mappings.normalizers.numbers import format_decimal
from mappings.spec import FieldMapping, FileFormat, MappingSpec, Template, load_spec

__all__ = ["MappingResult", "load_spec", "map_record", "map_record_with_warnings", "to_system"]


@dataclass(frozen=True)
class MappingResult:
    customer: Customer
    warnings: tuple[FieldIssue, ...] = ()  # fields dropped by ``on_error: drop``


class _FieldFailed(Exception):
    def __init__(self, issue: FieldIssue) -> None:
        self.issue = issue


def map_record(spec: MappingSpec, payload: Mapping[str, Any]) -> Customer:
    """The canonical Customer for ``payload``; raises MappingError with every failing field."""
    return map_record_with_warnings(spec, payload).customer


def map_record_with_warnings(spec: MappingSpec, payload: Mapping[str, Any]) -> MappingResult:
    values: dict[str, Any] = {}
    errors: list[FieldIssue] = []
    warnings: list[FieldIssue] = []
    country = spec.default_country
    # Country first: phone numbers, postal codes, IČO and VAT prefixes are read in it.
    for name, rule in sorted(spec.fields.items(), key=lambda item: item[0] != "country"):
        try:
            values[name] = _map_field(name, rule, payload, country)
        except _FieldFailed as failed:
            (warnings if rule.on_error == "drop" else errors).append(failed.issue)
            continue
        if name == "country" and values[name] is not None:
            country = values[name]
    if errors:
        raise MappingError(errors)
    present = {name: value for name, value in values.items() if value is not None}
    return MappingResult(Customer(**present), tuple(warnings))


def _map_field(name: str, rule: FieldMapping, payload: Mapping[str, Any],
               country: str | None) -> Any:
    raw = _raw_value(rule, payload)
    if raw is None:
        return rule.default
    try:
        return NORMALIZERS[rule.normalizer](raw, country)
    except InvalidValue as exc:
        issue = FieldIssue(name, ", ".join(rule.sources), raw, exc.label, exc.reason)
        raise _FieldFailed(issue) from exc


def _raw_value(rule: FieldMapping, payload: Mapping[str, Any]) -> Any:
    template = rule.parsed_template()
    if template is None:
        return _blank_to_none(_lookup(payload, rule.sources[0]))
    named = {
        path.rsplit(".", 1)[-1]: _blank_to_none(_lookup(payload, path)) for path in rule.sources
    }
    return _render(template, named)


def _lookup(payload: Mapping[str, Any], path: str) -> Any:
    """A top-level field, or a dotted path into nested JSON (ARES ``sidlo.nazevObce``)."""
    value: Any = payload
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _render(template: Template, named: Mapping[str, Any]) -> str | None:
    """Only the parts present: a missing part drops the separator written before it."""
    text = ""
    for index, part in enumerate(template.parts):
        value = next((named[n] for n in part.names if named[n] is not None), None)
        if value is None:
            continue
        text += (part.before if text or index == 0 else "") + as_str(value)
    return text + template.after if text else None


def to_system(spec: MappingSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical values -> the system's field names and representation, for write-back.

    Fields the system does not hold, or holds only derived or composed (``write: false``),
    are left out; an unknown canonical field name is a programming error.
    """
    if spec.read_only:
        raise ValueError(f"system {spec.system!r} is read-only")
    unknown = sorted(set(values) - set(CUSTOMER_FIELDS))
    if unknown:
        raise ValueError(f"not canonical Customer fields: {unknown}")
    targets = spec.writable_fields()
    return {targets[f]: _represent(v, spec.format) for f, v in values.items() if f in targets}


def _represent(value: Any, file_format: FileFormat | None) -> Any:
    """Plain values for SOAP and SQL; text (decimal comma where the file uses it) for files."""
    if value is None:
        return None
    if isinstance(value, StrEnum):
        return value.value
    if file_format is None:
        return value
    if isinstance(value, Decimal):
        return format_decimal(value, file_format.decimal_comma)
    return str(value)
