"""Match rules as data: the ``matching:`` section of hub.yaml, validated.

The engine knows nothing about companies. These settings name the columns it reads, the
features it derives from them (``features``), how candidate pairs are found
(``blocking``), how each pair is compared (``comparisons``, each an ordered list of
agreement levels) and where the links are drawn (``thresholds``). The same engine
links any record type that a settings block describes (Splink's settings, as data).
Every problem of a section is reported at once, each at its key: the checks across the
section (names of columns and comparisons) run on its input, so a bad level hides none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, field_validator,
                      model_validator)

from core.validation import Loc, Problem, as_list, as_mapping, validate_all

TransformName = Literal["fold", "strip_legal_form", "sort_tokens", "first_token", "email_domain",
                        "digits"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FeatureSpec(_Strict):
    """A derived column: ``source`` passed through ``steps`` in order."""

    source: str = Field(alias="from")
    steps: list[TransformName]


def feature_order(features: Mapping[str, FeatureSpec]) -> list[str]:
    """Feature names in an order where each comes after the feature it is built from.

    The order of the mapping does not matter (a YAML file's key order is no contract);
    otherwise independent features keep it. A feature built from itself, directly or
    through others, is an error naming the features of the cycle.
    """
    order: list[str] = []
    placed: set[str] = set()
    for name in features:
        chain: list[str] = []
        current = name
        while current in features and current not in placed:
            if current in chain:
                cycle = [*chain[chain.index(current):], current]
                raise ValueError(f"features built from each other in a cycle: {' -> '.join(cycle)}")
            chain.append(current)
            current = features[current].source
        for feature in reversed(chain):  # sources first
            order.append(feature)
            placed.add(feature)
    return order


class LevelSpec(_Strict):
    """One agreement level; the first level a pair satisfies is its level."""

    kind: Literal["exact", "jaro_winkler", "token_set", "edit_distance", "numeric", "date"]
    column: str | None = None  # defaults to the comparison's column
    min: float | None = Field(None, ge=0, le=1)  # similarity for jaro_winkler / token_set
    max_abs: float | None = Field(None, ge=0)  # numeric distance
    max_days: int | None = Field(None, ge=0)  # date distance
    max_edits: int | None = Field(None, ge=0)  # edit_distance: insertions, deletions, substitutions, swaps

    @model_validator(mode="after")
    def _parameters(self) -> LevelSpec:
        needs = {"jaro_winkler": "min", "token_set": "min", "numeric": "max_abs", "date": "max_days",
                 "edit_distance": "max_edits"}
        wanted = needs.get(self.kind)
        if wanted and getattr(self, wanted) is None:
            raise ValueError(f"a {self.kind} level needs {wanted}")
        return self


class ComparisonSpec(_Strict):
    """How one aspect of two records is compared: levels from strongest to weakest.

    A pair that satisfies no level is at the implicit "else" level; a pair where either
    side is empty carries no evidence for this comparison.
    """

    name: str
    column: str
    levels: list[LevelSpec] = Field(min_length=1)
    # Configured m probabilities (levels first, then "else"); estimated when left out.
    m: list[float] | None = None

    @model_validator(mode="after")
    def _m_length(self) -> ComparisonSpec:
        if self.m is not None and len(self.m) != len(self.levels) + 1:
            raise ValueError(f"{self.name}: m needs {len(self.levels) + 1} values (levels + else)")
        return self


class Thresholds(_Strict):
    """Match probabilities: at or above ``link`` the engine links; from ``review`` a person decides."""

    link: float = Field(0.99, gt=0, lt=1)
    review: float = Field(0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review > self.link:
            raise ValueError(f"review ({self.review}) must not exceed link ({self.link})")
        return self


class TrainingSpec(_Strict):
    """How m, u and the prior are estimated (Fellegi-Sunter)."""

    u_sample_pairs: int = Field(200_000, ge=1000)  # random pairs for u
    m_from_keys: bool = True  # m and u from blocked pairs the exclusive keys label
    label_sample: int = Field(20_000, ge=0)  # keyed records whose blocked pairs serve as labels
    em_iterations: int = Field(10, ge=0, le=100)
    min_pairs_for_em: int = Field(200, ge=0)  # fewer candidate pairs: keep the start values
    prior: float | None = Field(None, gt=0, lt=1)  # fixed λ instead of estimating it
    seed: int = 42
    # Bounds that keep EM from running away (learning "shares a block" as "is a match").
    # λ, the share of candidate pairs that match, stays within [match_share_floor,
    # match_share_ceiling], narrowed by what the keys say: the share of keyed blocked pairs the
    # keys call a match, times or divided by key_share_slack; and at most matches_per_record
    # matching pairs a record (without keys, the prior falls back to half of that).
    match_share_floor: float = Field(1e-4, gt=0, lt=1)
    match_share_ceiling: float = Field(0.95, gt=0, lt=1)
    key_share_slack: float = Field(4.0, ge=1)
    matches_per_record: float = Field(2.0, gt=0)
    u_floor: float = Field(1e-4, gt=0, lt=0.1)  # no level's u below: a rare agreement is not proof
    max_level_weight: float = Field(14.0, gt=0)  # |log2(m/u)| of one level, in bits, at most
    # Collapse: after training, the model is dropped for the untrained one (with a warning) when
    # λ is past its bound, m ≈ u everywhere, more candidate pairs link than can be matches, or
    # one cluster holds more than swallow_share of the records in most blocks of 10 or more.
    swallow_share: float = Field(0.5, gt=0, le=1)
    # A stronger level (listed earlier) never weighs less than a weaker one of its comparison. With
    # u estimated on blocked pairs (no keys to label any), exact agreement on a blocked column is
    # common among non-matches there, and EM may weigh it below a near miss (persons: an exact
    # given name below one within Jaro-Winkler 0.92); the stronger level then takes the weaker's weight.
    monotone_levels: bool = False

    @model_validator(mode="after")
    def _share_band(self) -> TrainingSpec:
        if self.match_share_floor >= self.match_share_ceiling:
            raise ValueError(f"match_share_floor ({self.match_share_floor}) must be below "
                             f"match_share_ceiling ({self.match_share_ceiling})")
        return self


class MatchSettings(_Strict):
    """The whole ``matching:`` section.

    ``input_columns``: the columns of the records it is applied to; a subclass that knows them
    (the hub's, the Customer's fields) has every column the rules name checked against them.
    """

    input_columns: ClassVar[frozenset[str] | None] = None

    # Deterministic keys, strongest first: records sharing a value are one entity. None at all
    # (persons without an identifier) only where blocking and comparisons link the records.
    keys: list[str] = ["company_id", "vat_id"]
    # Keys of which one entity holds one value: two different values are never linked.
    exclusive: list[str] | None = None
    features: dict[str, FeatureSpec] = {}
    blocking: list[Annotated[list[str], Field(min_length=1)]] = []
    comparisons: list[ComparisonSpec] = []
    thresholds: Thresholds = Thresholds()
    training: TrainingSpec = TrainingSpec()
    max_block_size: int = Field(2_000, ge=2)  # a larger block key is skipped (too common to tell)

    @property
    def exclusive_keys(self) -> list[str]:
        return list(self.exclusive) if self.exclusive is not None else self.keys[:1]

    @property
    def probabilistic(self) -> bool:
        return bool(self.blocking and self.comparisons)

    def source_columns(self) -> set[str]:
        """The input columns the rules read (features resolved to their sources)."""
        derived = set(self.features)
        used = set(self.keys) | set(self.exclusive_keys) | {f.source for f in self.features.values()}
        used |= {c for rule in self.blocking for c in rule}
        for comparison in self.comparisons:
            used |= {comparison.column} | {lv.column for lv in comparison.levels if lv.column}
        return used - derived

    @field_validator("features")
    @classmethod
    def _no_cycle(cls, features: dict[str, FeatureSpec]) -> dict[str, FeatureSpec]:
        feature_order(features)  # a cycle among the derived columns is an error here
        return features

    @model_validator(mode="wrap")
    @classmethod
    def _names_resolve(cls, data: Any,
                       handler: ModelWrapValidatorHandler[MatchSettings]) -> MatchSettings:
        """Names checked across the section, on the input: a bad level elsewhere hides none."""
        return validate_all(data, handler, [*_repeated_names(data), *cls._unknown_columns(data),
                                            *_nothing_links(data)])

    @classmethod
    def _unknown_columns(cls, data: Any) -> Iterator[Problem]:
        if cls.input_columns is None:
            return
        features = as_mapping(as_mapping(data).get("features"))
        known = cls.input_columns | {name for name in features if isinstance(name, str)}
        for loc, column in column_references(data):
            if isinstance(column, str) and column not in known:
                yield loc, f"unknown column {column!r}; neither a record column nor a feature"

    def feature_order(self) -> list[str]:
        return feature_order(self.features)


def _nothing_links(data: Any) -> Iterator[Problem]:
    """No key is allowed (persons without an identifier) only where blocking and comparisons link."""
    raw = as_mapping(data)
    if "keys" in raw and raw["keys"] == [] and not (as_list(raw.get("blocking")) and as_list(raw.get("comparisons"))):
        yield ("keys",), "no key, and no blocking with comparisons either: nothing would link two records"


def _repeated_names(data: Any) -> Iterator[Problem]:
    seen: set[Any] = set()
    for i, comparison in enumerate(as_list(as_mapping(data).get("comparisons"))):
        name = as_mapping(comparison).get("name")
        if name in seen:
            yield ("comparisons", i, "name"), f"comparison names must be unique: {name!r} twice"
        seen.add(name)


def column_references(data: Any) -> Iterator[tuple[Loc, Any]]:
    """(location, name) of every column a raw ``matching:`` section names; a malformed part
    names nothing here (its own error says what is wrong with it)."""
    raw = as_mapping(data)
    for key in ("keys", "exclusive"):
        yield from (((key, i), column) for i, column in enumerate(as_list(raw.get(key))))
    for name, feature in as_mapping(raw.get("features")).items():
        feature = as_mapping(feature)
        yield ("features", name, "from"), feature.get("from", feature.get("source"))
    for i, rule in enumerate(as_list(raw.get("blocking"))):
        yield from ((("blocking", i, j), column) for j, column in enumerate(as_list(rule)))
    for i, comparison in enumerate(as_list(raw.get("comparisons"))):
        comparison = as_mapping(comparison)
        yield ("comparisons", i, "column"), comparison.get("column")
        for j, level in enumerate(as_list(comparison.get("levels"))):
            if (column := as_mapping(level).get("column")) is not None:
                yield ("comparisons", i, "levels", j, "column"), column
