"""Survivorship rules: one small class per rule, registered by the name hub.yaml gives it.

Like Splink's comparison library, each rule is a class with one method, ``rankings``: the
column-wise keys by which it ranks an entity's members for a field. A key is a packed 64-bit
integer (a stronger criterion, then the source's place in the rule's list, then the record
id); the smallest per entity wins, and the record id part names the winning record, so
``survivorship.winners_wide`` finds every winner with one ``min`` per entity and field.
A rule with a fallback (``registry``) gives two rankings: the first that names a member
decides, and its label is the rule the lineage records.

A new rule is a subclass with a ``name`` and ``rankings``, decorated with ``@register``;
hub.yaml can then name it (``known_rule`` validates the names).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar, NamedTuple

import polars as pl
from pydantic import AfterValidator

RID = "_rid"  # the member's record id as a dense integer (winners_wide adds the column)
RID_BITS, RANK_BITS, AGREE_BITS = 32, 11, 20  # a sort key packed into one 64-bit integer


class Ranking(NamedTuple):
    key: pl.Expr  # packed key per member; the smallest per entity wins; null: not a candidate
    label: str  # the rule the lineage names when this key picks the winner


@dataclass(frozen=True)
class SurvivorshipRule(ABC):
    """A field's rule and the sources it lists, in order of trust."""

    name: ClassVar[str]
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))  # hub.yaml gives a list

    @abstractmethod
    def rankings(self, field: str) -> list[Ranking]:
        """The keys ranking the members' values of ``field``, the deciding one first."""


RULES: dict[str, type[SurvivorshipRule]] = {}


def register(rule: type[SurvivorshipRule]) -> type[SurvivorshipRule]:
    RULES[rule.name] = rule
    return rule


def rule_named(name: str, sources: Iterable[str]) -> SurvivorshipRule:
    return RULES[known_rule(name)](tuple(sources))


def known_rule(name: str) -> str:
    """``name`` if a rule is registered under it (the check hub.yaml's ``rule:`` goes through)."""
    if name not in RULES:
        raise ValueError(f"unknown survivorship rule {name!r}; known rules: {', '.join(sorted(RULES))}")
    return name


SurvivorshipRuleName = Annotated[str, AfterValidator(known_rule)]


@register
class SourcePriority(SurvivorshipRule):
    """The first listed source that holds a value."""

    name = "source_priority"

    def rankings(self, field: str) -> list[Ranking]:
        return [Ranking(packed(rank(field, self.sources)), self.name)]


@register
class MostFrequent(SurvivorshipRule):
    """The value most listed sources agree on; ties go to the higher-priority source."""

    name = "most_frequent"

    def rankings(self, field: str) -> list[Ranking]:
        return [Ranking(most_frequent_key(field, self.sources), self.name)]


@register
class MostRecent(SurvivorshipRule):
    """Among the listed sources, the holder whose content changed last; then source order."""

    name = "most_recent"

    def rankings(self, field: str) -> list[Ranking]:
        return [Ranking(timed_key(field, self.sources, latest=True), self.name)]


@register
class FirstNonEmpty(SurvivorshipRule):
    """Among the listed sources, the holder whose content was seen first; then source order."""

    name = "first_non_empty"

    def rankings(self, field: str) -> list[Ranking]:
        return [Ranking(timed_key(field, self.sources, latest=False), self.name)]


@register
class Registry(SurvivorshipRule):
    """The registry (the first listed source) decides when it knows the company; otherwise the
    value most of the other listed sources agree on."""

    name = "registry"

    def rankings(self, field: str) -> list[Ranking]:
        return [Ranking(packed(rank(field, self.sources[:1])), self.name),
                Ranking(most_frequent_key(field, self.sources[1:]), f"{self.name}:{MostFrequent.name}")]


# --- the packed keys the rules are made of ---------------------------------------------------


def rank(field: str, sources: Sequence[str]) -> pl.Expr:
    """The source's place in the rule's list, for members that hold a value; else null."""
    if len(sources) >= 1 << RANK_BITS:
        raise ValueError(f"{field}: at most {(1 << RANK_BITS) - 1} sources")
    places = {s: i for i, s in enumerate(sources)}
    position = pl.col("system").replace_strict(places, default=None, return_dtype=pl.UInt64)
    return pl.when(pl.col(field).is_not_null()).then(position)


def packed(source_rank: pl.Expr, before: pl.Expr | None = None) -> pl.Expr:
    """Source order, then record id, optionally after a stronger criterion: the smallest key
    wins. The record id part names the record, so the key alone finds the row."""
    key = source_rank * (1 << RID_BITS) + pl.col(RID).cast(pl.UInt64)
    return key if before is None else before.cast(pl.UInt64) * (1 << (RID_BITS + RANK_BITS)) + key


def most_frequent_key(field: str, sources: Sequence[str]) -> pl.Expr:
    """The value most holders agree on; ties go to the value of the higher-priority source."""
    source_rank = rank(field, sources)
    agree = source_rank.count().over("entity", field).clip(upper_bound=(1 << AGREE_BITS) - 1)
    return packed(source_rank, pl.lit((1 << AGREE_BITS) - 1, pl.UInt64) - agree.cast(pl.UInt64))


def timed_key(field: str, sources: Sequence[str], latest: bool) -> pl.Expr:
    """Only the holders whose content changed last (``latest``) or first compete; then source
    order. A record without a time never beats one with a time."""
    source_rank = rank(field, sources)
    seen = pl.when(source_rank.is_not_null()).then(pl.col("seen_at").fill_null("" if latest else "~"))
    best = seen.max().over("entity") if latest else seen.min().over("entity")
    return pl.when(seen == best).then(packed(source_rank))
