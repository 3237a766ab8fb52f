"""config/hub.yaml, validated with pydantic; every problem reported at once, by file and key."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ConfigError
from hub.orchestration_config import OrchestrationConfig
from mappings.customer import CUSTOMER_FIELDS
from reconciliation.matching.settings import MatchSettings
from reconciliation.survivorship_rules import SurvivorshipRuleName

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "hub.yaml"
CONFIG_ENV = "CUSTHUB_CONFIG"
STORE_URL_ENV = "CUSTHUB_STORE_URL"

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


class SystemConfig(_Strict):
    kind: Literal["soap_crm", "sql_view", "sftp_files"]
    conn_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    mapping: str
    enabled: bool = True
    connector: dict[str, Any] = {}
    receives: list[str] = []

    @model_validator(mode="after")
    def _known_fields(self) -> SystemConfig:
        unknown = sorted(set(self.receives) - set(CUSTOMER_FIELDS))
        if unknown:
            raise ValueError(f"receives names unknown fields {unknown}")
        return self


class RegistryConfig(_Strict):
    kind: RegistryKind
    conn_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    mapping: str | None = None
    enabled: bool = True
    connector: dict[str, Any] = {}


class MatchingConfig(MatchSettings):
    """The match rules (reconciliation.matching.settings), checked against the Customer's fields."""

    @model_validator(mode="after")
    def _known_columns(self) -> MatchingConfig:
        unknown = sorted(self.source_columns() - set(CUSTOMER_FIELDS))
        if unknown:
            raise ValueError(f"matching reads unknown fields {unknown}")
        return self


class FieldRule(_Strict):
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


class SurvivorshipConfig(_Strict):
    default: FieldRule
    fields: dict[str, FieldRule] = {}

    def rule_for(self, field: str) -> FieldRule:
        return self.fields.get(field, self.default)


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


class HubConfig(_Strict):
    store: StoreConfig = StoreConfig()
    report_dir: str = ".demo/reports"
    quarantine_max_share: float = Field(0.2, ge=0, le=1)
    systems: dict[str, SystemConfig]
    registries: dict[str, RegistryConfig] = {}
    matching: MatchingConfig = MatchingConfig()
    survivorship: SurvivorshipConfig
    guards: GuardsConfig = GuardsConfig()
    orchestration: OrchestrationConfig = OrchestrationConfig()
    review: ReviewConfig = ReviewConfig()

    @model_validator(mode="after")
    def _sources_exist(self) -> HubConfig:
        known = set(self.systems) | set(self.registries)
        rules = {"default": self.survivorship.default, **self.survivorship.fields}
        for field, rule in rules.items():
            if field != "default" and field not in CUSTOMER_FIELDS:
                raise ValueError(f"survivorship.fields.{field}: not a Customer field")
            missing = [s for s in rule.sources if s not in known]
            if missing:
                raise ValueError(f"survivorship.{field}.sources: unknown systems {missing}")
        return self

    @property
    def store_url(self) -> str:
        return os.environ.get(STORE_URL_ENV) or self.store.url

    def enabled_systems(self) -> list[str]:
        return [name for name, s in self.systems.items() if s.enabled]


def connector_class(kind: str) -> type:
    module, _, name = CONNECTOR_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def load_config(path: str | Path | None = None) -> HubConfig:
    source = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{source}: cannot read configuration: {e}") from e
    try:
        config = HubConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_describe(source, e)) from None
    _validate_connector_blocks(source, config)
    return config


def _describe(source: Path, error: ValidationError) -> str:
    lines = [f"{source}: {error.error_count()} problem(s) in the configuration:"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def _validate_connector_blocks(source: Path, config: HubConfig) -> None:
    problems: list[str] = []
    blocks = [("systems", n, s.kind, s.connector) for n, s in config.systems.items()]
    blocks += [("registries", n, r.kind, r.connector) for n, r in config.registries.items()]
    for section, name, kind, block in blocks:
        try:
            connector_class(kind).Settings.model_validate(block)
        except ValidationError as e:
            for item in e.errors():
                key = ".".join(str(p) for p in item["loc"])
                problems.append(f"  {section}.{name}.connector.{key}: {item['msg']}")
    if problems:
        raise ConfigError("\n".join([f"{source}: problem(s) in connector settings:", *problems]))
