"""The declarative mapping spec: how one system's record becomes a canonical Customer.

A spec is data (YAML under ``mappings/specs/``), validated here with every problem
reported at once and named by file and key; ``mappings.engine`` executes it. Composed
values use a small template language instead of expressions, so nothing is ``eval``-ed:
``"{nazevUlice|nazevCastiObce} {cisloDomovni}/{cisloOrientacni}"`` names sources by the
last segment of their path, ``a|b`` takes the first present, and a placeholder without
a value drops the separator text written before it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, ModelWrapValidatorHandler,
                      ValidationError, field_validator, model_validator)

from core.formats import FileFormat  # the one file description, shared with connectors/files
from core.validation import Problem, as_mapping, describe, validate_all
from mappings.customer import CUSTOMER_FIELDS, Customer
from mappings.errors import SpecError, SpecProblem
from mappings.normalizers import COUNTRY_FREE, NORMALIZERS
from mappings.normalizers._common import as_str
from mappings.normalizers._tables import lookup_key
from mappings.normalizers.country import is_alpha2

SPECS_DIR = Path(__file__).parent / "specs"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _alpha2_code(country: str | None) -> str | None:
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        raise ValueError("must be an ISO 3166-1 alpha-2 code such as CZ")
    return country


# A spec's (or a record schema's) default country: what country-aware normalizers read a value
# without a country as.
DefaultCountry = Annotated[str | None, AfterValidator(_alpha2_code)]


@dataclass(frozen=True)
class TemplatePart:
    before: str  # literal text written only when this part has a value and something precedes it
    names: tuple[str, ...]  # alternatives: the first source with a value wins


@dataclass(frozen=True)
class Template:
    parts: tuple[TemplatePart, ...]
    after: str  # literal text after the last placeholder

    @classmethod
    def parse(cls, text: str) -> Template:
        parts, position = [], 0
        for match in _PLACEHOLDER.finditer(text):
            names = tuple(name.strip() for name in match.group(1).split("|"))
            if not all(names):
                raise ValueError(f"empty placeholder in template {text!r}")
            parts.append(TemplatePart(text[position : match.start()], names))
            position = match.end()
        if not parts:
            raise ValueError(f"template {text!r} has no {{placeholder}}")
        return cls(tuple(parts), text[position:])

    @property
    def names(self) -> set[str]:
        return {name for part in self.parts for name in part.names}


def _canonical(name: str) -> str:
    if name not in CUSTOMER_FIELDS:
        raise ValueError(f"{name!r} is not a canonical Customer field")
    return name


# A Customer field's name; as a mapping's key, each unknown name is its own error.
CanonicalField = Annotated[str, AfterValidator(_canonical)]


def _known_normalizer(name: str) -> str:
    if name not in NORMALIZERS:
        known = ", ".join(sorted(NORMALIZERS))
        raise ValueError(f"unknown normalizer {name!r}; known: {known}")
    return name


class Fallback(BaseModel):
    """Another top-level source read when the field's own holds nothing, with its own
    normalizer: the IČO from a Czech company's DIČ (``ico_from_dic``). Never written to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    normalizer: Annotated[str, AfterValidator(_known_normalizer)]


class FieldMapping(BaseModel):
    """Where one canonical field comes from and how it is normalized."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | list[str]  # a field or dotted path; a list needs a template
    template: str | None = None
    normalizer: str = "text"
    on_error: Literal["quarantine", "drop"] = "quarantine"
    write: bool | None = None  # default: written back unless composed by a template
    default: str | None = None  # canonical value when the source holds nothing
    # Raw values read as another before normalizing, compared case- and space-blind: a
    # system's own spelling ("SRN" for Germany), checked when the spec loads.
    aliases: dict[str, str] = {}
    fallback: Fallback | None = None  # read when the source holds nothing

    _known = field_validator("normalizer")(_known_normalizer)

    @model_validator(mode="after")
    def _plain_fallback(self) -> FieldMapping:
        if self.fallback is None:
            return self
        if self.template is not None or "." in self.fallback.source:
            raise ValueError("a fallback needs a single source and one top-level fallback source")
        return self

    @model_validator(mode="after")
    def _template_matches_sources(self) -> FieldMapping:
        if isinstance(self.source, list) != (self.template is not None):
            raise ValueError("a list of sources needs a template, and a template a list of sources")
        if self.template is not None:
            _check_template(self.parsed_template(), self.sources)
        return self

    @model_validator(mode="after")
    def _aliases_normalize(self) -> FieldMapping:
        if self.normalizer in COUNTRY_FREE:  # others depend on a record's country: read per record
            for alias, target in self.aliases.items():
                try:
                    NORMALIZERS[self.normalizer](target, None)
                except ValueError as exc:
                    raise ValueError(f"alias {alias!r}: {target!r} is no valid value: "
                                     f"{exc}") from exc
        return self

    def aliased(self, raw: Any) -> Any:
        """The raw value an alias stands for, or ``raw`` itself."""
        if not self.aliases:
            return raw
        return _alias_table(tuple(self.aliases.items())).get(lookup_key(as_str(raw)), raw)

    def with_aliases(self, more: dict[str, str]) -> FieldMapping:
        """This rule with ``more`` aliases; its own win where both name one value."""
        merged = {**more, **self.aliases}
        return self.model_copy(update={"aliases": merged}) if merged != self.aliases else self

    @property
    def sources(self) -> tuple[str, ...]:
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)

    @property
    def read_sources(self) -> tuple[str, ...]:
        """Every source the rule reads: its own and its fallback's."""
        return self.sources + ((self.fallback.source,) if self.fallback is not None else ())

    @property
    def writable(self) -> bool:
        return self.write if self.write is not None else self.template is None

    def parsed_template(self) -> Template | None:
        return _parse_template(self.template) if self.template is not None else None


@cache
def _alias_table(aliases: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Compiled once per rule's aliases: the engines ask for it on every value."""
    return {lookup_key(alias): target for alias, target in aliases}


@cache
def _parse_template(text: str) -> Template:
    """Parsed once per template text: the engine asks for it on every record."""
    return Template.parse(text)


def _check_template(template: Template | None, sources: tuple[str, ...]) -> None:
    names = [source.rsplit(".", 1)[-1] for source in sources]
    if len(set(names)) != len(names):
        raise ValueError("template sources must end in distinct names")
    if template is not None and template.names != set(names):
        raise ValueError(
            f"template placeholders {sorted(template.names)} must be the sources {names}"
        )


class MappingSpec(BaseModel):
    """One system's mapping: its record id, file format and a rule per canonical field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    record_id: str
    read_only: bool = False  # a registry: nothing is written back
    default_country: DefaultCountry = None  # reads national phone numbers etc. when a record has none
    format: FileFormat | None = None
    fields: dict[CanonicalField, FieldMapping]

    @model_validator(mode="wrap")
    @classmethod
    def _across_fields(cls, data: Any,
                       handler: ModelWrapValidatorHandler[MappingSpec]) -> MappingSpec:
        """Checks across field rules, on the rules valid on their own: one bad rule hides none."""
        rules = _valid_rules(data)
        read_only = as_mapping(data).get("read_only") is True
        written = [] if read_only else [*_unplain_writes(rules), *_written_fallbacks(rules)]
        return validate_all(data, handler,
                            [*_bad_defaults(rules), *_country_fallback(rules), *written])

    def source_columns(self) -> list[str]:
        """Every source column the rules read, fallbacks included, sorted: what a caller hands
        ``mappings.frames.map_frame`` as the raw frame's columns."""
        return sorted({source for rule in self.fields.values() for source in rule.read_sources})

    def with_aliases(self, normalizer: str, aliases: dict[str, str]) -> MappingSpec:
        """This spec with ``aliases`` added to every field read by ``normalizer`` (hub.yaml's
        ``mapping.country_aliases`` for ``country``); a spec's own aliases win."""
        if not aliases:
            return self
        fields = {name: rule.with_aliases(aliases) if rule.normalizer == normalizer else rule
                  for name, rule in self.fields.items()}
        return self.model_copy(update={"fields": fields})

    def writable_fields(self) -> dict[str, str]:
        """Canonical field -> the system field it is written to (empty for a read-only system)."""
        if self.read_only:
            return {}
        return {name: rule.sources[0] for name, rule in self.fields.items() if rule.writable}


def _valid_rules(data: Any) -> dict[str, FieldMapping]:
    """The field rules of a raw spec that are valid on their own (the others' errors say why)."""
    rules = {}
    for name, raw in as_mapping(as_mapping(data).get("fields")).items():
        try:
            rules[name] = FieldMapping.model_validate(raw)
        except ValidationError:
            continue
    return rules


def _bad_defaults(rules: dict[str, FieldMapping]) -> Iterator[Problem]:
    """A default is a canonical value: "actve" fails when the spec loads, not on every record."""
    for name, rule in rules.items():
        if rule.default is None or name not in CUSTOMER_FIELDS:
            continue
        try:
            Customer.model_validate({name: rule.default})
        except ValidationError as exc:
            yield ("fields", name, "default"), f"{rule.default!r}: {exc.errors()[0]['msg']}"


def _country_fallback(rules: dict[str, FieldMapping]) -> Iterator[Problem]:
    """The country is read first, by every other field: it takes no fallback."""
    if "country" in rules and rules["country"].fallback is not None:
        yield ("fields", "country", "fallback"), "the country takes no fallback"


def _written_fallbacks(rules: dict[str, FieldMapping]) -> Iterator[Problem]:
    """A value read from the fallback would hide the empty field from the corrections that
    fill it: a field written back takes no fallback."""
    for name, rule in rules.items():
        if rule.fallback is not None and rule.writable:
            yield (("fields", name, "fallback"),
                   "a field written back takes no fallback; set write: false")


def _unplain_writes(rules: dict[str, FieldMapping]) -> Iterator[Problem]:
    """A field written back needs one top-level source, written by no other field."""
    written: dict[str, str] = {}
    for name, rule in rules.items():
        if not rule.writable:
            continue
        if rule.template is not None or "." in rule.sources[0]:
            yield ("fields", name), "a written field needs one top-level source; set write: false"
        elif (other := written.setdefault(rule.sources[0], name)) != name:
            yield ("fields", name), (f"source {rule.sources[0]!r} is already written by {other}; "
                                     "set write: false on the derived one")


def check_country_aliases(aliases: dict[str, str]) -> None:
    """Raise ValueError naming every alias whose target is no ISO 3166-1 alpha-2 code."""
    bad = [f"{alias!r}: {target!r}" for alias, target in aliases.items()
           if not alias.strip() or not is_alpha2(target)]
    if bad:
        raise ValueError(f"aliases must name an ISO 3166-1 alpha-2 code: {', '.join(bad)}")


def load_spec(name_or_path: str | Path) -> MappingSpec:
    """A spec by name ("erp" -> mappings/specs/erp.yaml) or by path to a YAML file.

    Parsed and validated once per content: every step of a run asks for its system's spec and
    gets the same validated object. Keyed on the file's text, not its mtime, which a coarse
    filesystem clock leaves unchanged by an edit made within the same tick.
    """
    path = spec_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), [SpecProblem("", str(exc))]) from exc
    return _parsed_spec(str(path), text)


@lru_cache(maxsize=64)
def _parsed_spec(source: str, text: str) -> MappingSpec:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(source, [SpecProblem("", str(exc))]) from exc
    return parse_spec(document, source=source)


def parse_spec(document: Any, source: str = "<spec>") -> MappingSpec:
    try:
        return MappingSpec.model_validate(document)
    except ValidationError as exc:
        problems = [SpecProblem(key, message) for key, message in describe(exc)]
        raise SpecError(source, problems) from exc


def spec_path(name_or_path: str | Path) -> Path:
    """Where a spec named in configuration lives: a bare name is one of mappings/specs/."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(name_or_path)
    return SPECS_DIR / f"{text}.yaml"
