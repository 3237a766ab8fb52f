"""config/hub.yaml, validated with pydantic; every problem reported at once, by file and key."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, PrivateAttr,
                      ValidationError, field_validator, model_validator)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigError
from core.validation import Problem, as_list, as_mapping, describe, problems_of, validate_all
from hub.orchestration_config import OrchestrationConfig
from mappings.customer import CUSTOMER_FIELDS
from mappings.errors import SpecError
from mappings.spec import (CanonicalField, MappingSpec, check_country_aliases, load_spec,
                           spec_path)
from reconciliation.matching.settings import MatchSettings
from reconciliation.comparison import ComparisonKeyName
from reconciliation.report_format import DEFAULT_LOCALE, check_locale
from reconciliation.survivorship_rules import SurvivorshipRuleName

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "hub.yaml"
CONFIG_ENV = "CUSTHUB_CONFIG"
STORE_URL_ENV = "CUSTHUB_STORE_URL"
REPORT_DIR_ENV = "CUSTHUB_REPORT_DIR"

# kind -> the connector class that serves it ("module:Class"), imported only when used.
CONNECTOR_KINDS: dict[str, str] = {
    "soap_crm": "connectors.soap.crm:CrmSoapConnector",
    "sql_view": "connectors.sql.view:SqlViewConnector",
    "sftp_files": "connectors.sftp.files:SftpFilesConnector",
    "ares": "connectors.registries.ares:AresConnector",
    "vies": "connectors.registries.vies:ViesConnector",
    "isir": "connectors.registries.isir:IsirConnector",
}
# Registry kinds: their connectors take only (settings, conn), and what they answer is evidence.
RegistryKind = Literal["ares", "vies", "isir"]
REGISTRY_KINDS: frozenset[str] = frozenset(get_args(RegistryKind))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Strict):
    url: str = "sqlite:///.demo/hub.db"


class _ConnectorBlock(_Strict):
    """A system or registry: its ``connector:`` block is validated by its kind's own Settings."""

    @model_validator(mode="wrap")
    @classmethod
    def _connector_settings(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        return validate_all(data, handler, _connector_problems(data))


class SystemConfig(_ConnectorBlock):
    kind: Literal["soap_crm", "sql_view", "sftp_files"]
    conn_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    mapping: str
    enabled: bool = True
    connector: dict[str, Any] = {}
    receives: list[CanonicalField] = []
    # When its extract fails or too much of it is quarantined: skip it this run (the others
    # reconcile and publish) or hold the whole run for approval.
    on_failure: Literal["skip_system", "hold_run"] = "skip_system"


class RegistryConfig(_ConnectorBlock):
    kind: RegistryKind
    conn_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    mapping: str | None = None
    enabled: bool = True
    connector: dict[str, Any] = {}
    # The registry step's time budget in a run: keys not answered by then are left for the next
    # run (counted as "<registry>_left"), and the run goes on.
    deadline_seconds: float = Field(1800.0, gt=0)
    # The queue (hub.pipeline.registry_queue): requests per second sent to the registry (every
    # request: one key, or one bulk page of ARES), keys asked per run at most (the rest are
    # counted as "<registry>_not_checked" and asked by the next runs, oldest first), and the
    # days after which a final answer is asked again.
    rate_per_second: float = Field(5.0, gt=0, le=1000)
    budget_per_run: int = Field(5000, ge=1)
    recheck_after_days: int = Field(7, ge=1)


class MatchingConfig(MatchSettings):
    """The match rules (reconciliation.matching.settings), read from the Customer's fields."""

    input_columns: ClassVar[frozenset[str] | None] = frozenset(CUSTOMER_FIELDS)
    # The hub's incremental scope follows the keys: it needs one (a record schema may have none).
    keys: list[str] = Field(["company_id", "vat_id"], min_length=1)


class SurvivorshipRuleConfig(_Strict):
    """source_priority: the first listed source with a value; most_recent / most_frequent /
    first_non_empty among the listed sources; registry: the first listed source (a registry)
    when it knows the company, else the value most other listed sources agree on."""

    rule: SurvivorshipRuleName = "source_priority"
    sources: list[str]


class GuardsConfig(_Strict):
    """Stop before publishing, and wait for ``custhub approve RUN``, when a run looks wrong."""

    # Share of EXISTING golden records a run may change (creating new ones does not count).
    max_golden_change_share: float = Field(0.3, ge=0, le=1)
    # Below this many existing golden records the change share is not judged (tiny estates).
    min_golden_records: int = Field(50, ge=0)
    # Share by which a system's live record count may fall since the last published run.
    max_source_shrink_share: float = Field(0.2, ge=0, le=1)
    # Share of a system's live records one source read may take for deleted; past it the
    # deletions are held (not applied, one review item says which), and the run goes on.
    max_delete_share: float = Field(0.1, ge=0, le=1)


class LeaseConfig(_Strict):
    """The run lease (one writer per store): a run renews it every third of ``seconds``; a
    lease not renewed for ``seconds`` belongs to a dead run, which the next run closes."""

    seconds: float = Field(300, gt=0)


class MappingRunConfig(_Strict):
    """How the map step runs: ``workers`` > 1 normalizes the distinct values of the costly fields
    (phone numbers, VAT IDs, IBANs) in that many worker processes (mappings.frames), for a first
    load of a large estate on a multi-core host; the records mapped are the same either way."""

    workers: int = Field(1, ge=1, le=32)
    # Names a system writes for a country that no table knows ("SRN": DE), for every spec's
    # ``country`` normalizer (a spec's own ``aliases:`` win); each must name an ISO alpha-2 code.
    country_aliases: dict[str, str] = {}

    @field_validator("country_aliases")
    @classmethod
    def _alpha2_targets(cls, aliases: dict[str, str]) -> dict[str, str]:
        check_country_aliases(aliases)
        return aliases


class SurvivorshipConfig(_Strict):
    default: SurvivorshipRuleConfig
    fields: dict[CanonicalField, SurvivorshipRuleConfig] = {}
    # How a field's values are compared, where not as reconciliation.comparison.FIELD_KEYS says
    # (e.g. ``city: fold`` to let diacritics not count): exact, text, fold, postal_code, decimal.
    compare: dict[CanonicalField, ComparisonKeyName] = {}

    def rule_for(self, field: str) -> SurvivorshipRuleConfig:
        return self.fields.get(field, self.default)


class ReconcileConfig(_Strict):
    """Reconcile looks only at what changed (docs/adr/0005-incremental-reconcile.md); every
    ``full_every_days`` it looks at the whole estate again and retrains the match model."""

    full_every_days: int = Field(7, ge=0)


class ReviewConfig(_Strict):
    """The review web page (`custhub serve`): who may log in, and how it listens.

    Passwords are stored only as hashes (`custhub hash-password`); more users may come from
    the JSON object in the environment variable named by ``users_env``. Mounted in Airflow's
    UI, the page uses Airflow's login instead.
    """

    users: dict[str, str] = {}  # name -> "scrypt$..." or "pbkdf2_sha256$..."
    users_env: str = "CUSTHUB_REVIEW_USERS"
    session_secret_env: str = "CUSTHUB_REVIEW_SECRET"  # unset: a new secret per start
    host: str = "127.0.0.1"
    port: int = Field(8750, ge=1, le=65535)
    secure_cookies: bool = False  # true behind HTTPS: the session cookie is never sent in clear


class ReportConfig(_Strict):
    """The run report: the locale its page writes numbers, money and dates in (Babel, e.g.
    cs_CZ, en_GB), and plain names of sources (systems and registries) for its "chosen by"
    column and legend, where the words for the source's kind are not enough."""

    locale: str = DEFAULT_LOCALE
    source_names: dict[str, str] = {}

    _known_locale = field_validator("locale")(check_locale)


class HubConfig(_Strict):
    store: StoreConfig = StoreConfig()
    report_dir: str = ".demo/reports"
    quarantine_max_share: float = Field(0.2, ge=0, le=1)
    systems: dict[str, SystemConfig]
    registries: dict[str, RegistryConfig] = {}
    matching: MatchingConfig = MatchingConfig()
    survivorship: SurvivorshipConfig
    guards: GuardsConfig = GuardsConfig()
    lease: LeaseConfig = LeaseConfig()
    mapping: MappingRunConfig = MappingRunConfig()
    orchestration: OrchestrationConfig = OrchestrationConfig()
    review: ReviewConfig = ReviewConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    report: ReportConfig = ReportConfig()
    # mapping (as named in the YAML) -> its spec, as load_config validated it: a run maps with
    # the specs checked at its start, and no step reads a spec's YAML again.
    _specs: dict[str, MappingSpec] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _sources_exist(cls, data: Any, handler: ModelWrapValidatorHandler[HubConfig]) -> HubConfig:
        """Survivorship names systems and registries: checked on the input, across sections."""
        return validate_all(data, handler, _unknown_sources(data))

    @property
    def store_url(self) -> str:
        return os.environ.get(STORE_URL_ENV) or self.store.url

    def enabled_systems(self) -> list[str]:
        return [name for name, s in self.systems.items() if s.enabled]

    def spec(self, name: str) -> MappingSpec:
        """The mapping spec of a system or registry, as load_config validated it."""
        block = self.systems.get(name) or self.registries.get(name)
        if block is None or block.mapping is None:
            raise ConfigError(f"{name!r} is no system or registry with a mapping")
        if block.mapping not in self._specs:  # a configuration built without load_config
            self._specs[block.mapping] = self._with_aliases(load_spec(block.mapping))
        return self._specs[block.mapping]

    def _with_aliases(self, spec: MappingSpec) -> MappingSpec:
        """The spec with hub.yaml's ``mapping.country_aliases`` on its country field."""
        return spec.with_aliases("country", self.mapping.country_aliases)


def _unknown_sources(data: Any) -> Iterator[Problem]:
    raw = as_mapping(data)
    known = {*as_mapping(raw.get("systems")), *as_mapping(raw.get("registries"))}
    survivorship = as_mapping(raw.get("survivorship"))
    rules = [(("default",), survivorship.get("default"))]
    fields = as_mapping(survivorship.get("fields"))
    rules += [(("fields", field), rule) for field, rule in fields.items()]
    for where, rule in rules:
        for i, source in enumerate(as_list(as_mapping(rule).get("sources"))):
            if isinstance(source, str) and source not in known:
                yield (("survivorship", *where, "sources", i),
                       f"unknown source {source!r}; not a system or registry of this configuration")


def _connector_problems(data: Any) -> Iterator[Problem]:
    """The ``connector:`` block against the Settings of the connector its ``kind`` names."""
    raw = as_mapping(data)
    kind, block = raw.get("kind"), raw.get("connector", {})
    if not isinstance(kind, str) or kind not in CONNECTOR_KINDS or not isinstance(block, dict):
        return  # the kind's or the block's own error says what is wrong
    try:
        connector_class(kind).Settings.model_validate(block)
    except ValidationError as e:
        yield from problems_of(e, "connector")


def connector_class(kind: str) -> type:
    module, _, name = CONNECTOR_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def load_config(path: str | Path | None = None) -> HubConfig:
    """hub.yaml and every mapping spec it names, validated in one pass: one ConfigError lists
    every problem, each as ``file: dotted.key: what is wrong``.

    Checking the connector blocks imports each kind's connector module (zeep, paramiko): this
    runs in tasks and commands, never when a DAG file is parsed (those read only
    hub.orchestration_config)."""
    source = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    raw = _read(source)
    problems: list[str] = []
    try:
        config = HubConfig.model_validate(raw)
    except ValidationError as e:
        problems += [f"{source}: {key}: {message}" for key, message in describe(e)]
    specs = _load_specs(source, raw, problems)
    if problems:
        raise ConfigError("\n".join([f"{len(problems)} problem(s) in the configuration {source}:",
                                     *(f"  {line}" for line in problems)]))
    config = _resolved_paths(config, source.resolve().parent)
    config._specs.update({name: config._with_aliases(spec) for name, spec in specs.items()})
    return config


def _resolved_paths(config: HubConfig, folder: Path) -> HubConfig:
    """A relative store file and report folder are read against the configuration's own folder,
    as a person reading hub.yaml would: the same store whatever the current directory. The
    report folder in CUSTHUB_REPORT_DIR (like the store in CUSTHUB_STORE_URL) wins over the file."""
    report_dir = os.environ.get(REPORT_DIR_ENV) or folder / config.report_dir  # absolute: kept
    update: dict[str, Any] = {"report_dir": os.path.normpath(report_dir)}
    if (database := _relative_sqlite_file(config.store.url)) is not None:
        url = make_url(config.store.url).set(database=os.path.normpath(folder / database))
        update["store"] = config.store.model_copy(update={"url": url.render_as_string(hide_password=False)})
    return config.model_copy(update=update)


def _relative_sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL when it is a relative path; None for any other URL (an unreadable
    one included: opening the store says so, without showing it)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return None if Path(database).is_absolute() else database


def _read(source: Path) -> Any:
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{source}: cannot read configuration: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of sections")
    return raw


def _load_specs(source: Path, raw: dict[str, Any], problems: list[str]) -> dict[str, MappingSpec]:
    """Every mapping spec the systems and registries name, each read once; the problems of
    all of them are added to ``problems``."""
    specs: dict[str, MappingSpec] = {}
    for section in ("systems", "registries"):
        for name, block in as_mapping(raw.get(section)).items():
            mapping = as_mapping(block).get("mapping")
            if not isinstance(mapping, str) or mapping in specs:
                continue
            if not (path := spec_path(mapping)).is_file():
                problems.append(f"{source}: {section}.{name}.mapping: no mapping spec at {path}")
                continue
            try:
                specs[mapping] = load_spec(mapping)
            except SpecError as e:
                problems.extend(line for line in str(e).splitlines() if line not in problems)
    return specs
