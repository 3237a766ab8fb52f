"""Apply a MappingSpec: a system's raw record to a canonical Customer, and back.

The way back (``to_system``) lives in ``mappings.writeback`` and is re-exported here.

Mapping is all-or-nothing per record: every field is tried, and if any field whose
rule says ``on_error: quarantine`` fails, ``MappingError`` carries every reason at
once. Fields with ``on_error: drop`` become None and are reported as warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mappings.customer import Customer
from mappings.errors import FieldIssue, InvalidValue, MappingError
from mappings.normalizers import NORMALIZERS
from mappings.normalizers._common import as_str
from mappings.spec import FieldMapping, MappingSpec, Template, load_spec
from mappings.writeback import to_system  # the way back, canonical -> the system's own form

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
        return _map_fallback(name, rule, payload, country)
    return _normalized(name, rule.normalizer, ", ".join(rule.sources), raw, rule.aliased(raw),
                       country)


def _map_fallback(name: str, rule: FieldMapping, payload: Mapping[str, Any],
                  country: str | None) -> Any:
    """The fallback source's value when the rule has one and it holds one; else the default."""
    fallback = rule.fallback
    raw = None if fallback is None else _blank_to_none(_lookup(payload, fallback.source))
    if fallback is None or raw is None:
        return rule.default
    value = _normalized(name, fallback.normalizer, fallback.source, raw, raw, country)
    return rule.default if value is None else value


def _normalized(name: str, normalizer: str, sources: str, raw: Any, read: Any,
                country: str | None) -> Any:
    try:
        return NORMALIZERS[normalizer](read, country)
    except InvalidValue as exc:
        raise _FieldFailed(FieldIssue(name, sources, raw, exc.label, exc.reason)) from exc


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

