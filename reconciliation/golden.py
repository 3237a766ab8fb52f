"""Golden records: which records speak for each company, its golden values, and its versions.

A record deleted at its source keeps its hub id (it may come back) but no longer speaks for
the company; a hub id left without a live record of a configured system keeps its golden
record as it is (the deleted_at_source review item asks a steward what to do with it). A
field in conflict keeps its previous golden value (``reconciliation.conflicts``). A new
version is made only when a value changed: an unchanged estate adds no history. A hub id
left without any record (merged away) has no current version any more; its history stays.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import polars as pl

from reconciliation.comparison import COUNTRY, same
from reconciliation.conflicts import conflicts, holding_choices
from reconciliation.decisions import ChosenValue
from reconciliation.linking import clusters_by_hub
from reconciliation.members import with_entities
from reconciliation.records import CurrentGolden, Golden, MemberRecord, RecordKey, RecordSet, ReviewQuestion
from reconciliation.survivorship import survive_members
from reconciliation.survivorship_rules import SurvivorshipRule

HELD = "held: conflict"  # the lineage's rule of a field a conflict holds at its previous value


@dataclass(frozen=True)
class RunRules:
    """What a run decides with, as plain values (hub/ reads them from hub.yaml)."""

    run_id: str
    rules: Mapping[str, SurvivorshipRule]  # per canonical field, in field order
    systems: Collection[str]  # the configured systems (registries are not among them)
    carries: Mapping[str, Collection[str]]  # system -> the fields its records hold
    receives: Mapping[str, Collection[str]]  # enabled system -> the fields it is corrected on
    vouches: Mapping[str, Collection[str]]  # registry -> the fields its checks vouch for
    # field -> comparison key (reconciliation.comparison); the fields not named keep FIELD_KEYS'
    compare: Mapping[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> list[str]:
        return list(self.rules)


class NewVersion(NamedTuple):
    hub_id: str
    version: int
    values: dict[str, Any]
    lineage: dict[str, dict[str, Any]]


@dataclass
class GoldenDecisions:
    goldens: dict[str, Golden] = field(default_factory=dict)  # per speaking hub id, as decided
    versions: list[NewVersion] = field(default_factory=list)  # new current versions
    superseded: list[str] = field(default_factory=list)  # hub ids whose current version a new one replaces
    retired: list[str] = field(default_factory=list)  # hub ids whose current version ends with no successor
    changes: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # hub_id, field, old, new
    held: dict[str, set[str]] = field(default_factory=dict)  # fields in conflict, per hub id
    questions: list[ReviewQuestion] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)  # steward decisions (choose_value) no longer holding
    live: list[str | None] = field(default_factory=list)  # per record: the hub id it is compared against


def decide_golden(records: RecordSet, frame: pl.DataFrame, hub_ids: Mapping[RecordKey, str],
                  currents: Mapping[str, CurrentGolden], chosen: Mapping[str, Mapping[str, ChosenValue]],
                  evidence: Mapping[RecordKey, Mapping[str, Any]], run: RunRules,
                  open_conflicts: Mapping[str, Collection[str]] | None = None) -> GoldenDecisions:
    """Every hub id's golden record and what changes with it.

    ``frame`` is the records frame of ``records.members``; ``currents`` the current golden
    versions; ``chosen`` the steward's unexpired choices per hub id and field; ``evidence`` the
    latest registry check per registry record; ``open_conflicts`` the fields of the conflicts
    still waiting for a steward, per hub id: they stay held, whatever the sources did since.
    """
    clusters = clusters_by_hub(records.members, dict(hub_ids))
    speaking = _speaking(clusters, records.deleted, run.systems)
    holding, expired = holding_choices(chosen, speaking)
    speakers = [_speaks(m, hub_ids, speaking, records.deleted) for m in records.members]
    members = with_entities(frame, speakers)
    goldens = survive_members(members, records.members, speaking, run.rules, run.fields, run.run_id, holding)
    decided = GoldenDecisions(expired=expired)
    for hub_id, cluster in speaking.items():
        current = currents.get(hub_id)
        chose = holding.get(hub_id, {})
        found = conflicts(hub_id, cluster, current, records.changed, run.rules, chose, run.compare)
        held = {*found, *(f for f in (open_conflicts or {}).get(hub_id, ()) if f not in chose)}
        golden = with_evidence(hold(goldens[hub_id], current, held), evidence, run.vouches)
        golden = respelled(golden, current, run.compare)
        decided.goldens[hub_id], decided.held[hub_id] = golden, held
        decided.questions += found.values()
        _version(decided, hub_id, golden, current)
    decided.retired = sorted(set(currents) - set(clusters))
    decided.live = [h if h is not None and m.system in run.systems else None
                    for m, h in zip(records.members, speakers, strict=True)]
    return decided


def _speaking(clusters: Mapping[str, Sequence[MemberRecord]], deleted: Collection[RecordKey],
              systems: Collection[str]) -> dict[str, list[MemberRecord]]:
    """Per hub id (sorted), its records that speak for the company; only hub ids where one of
    them is a configured system's."""
    speaking = {h: [m for m in clusters[h] if m.key not in deleted] for h in sorted(clusters)}
    return {h: c for h, c in speaking.items() if any(m.system in systems for m in c)}


def _speaks(member: MemberRecord, hub_ids: Mapping[RecordKey, str], speaking: Mapping[str, Any],
            deleted: Collection[RecordKey]) -> str | None:
    hub_id = hub_ids[member.key]
    return hub_id if hub_id in speaking and member.key not in deleted else None


def hold(golden: Golden, current: CurrentGolden | None, held: Collection[str]) -> Golden:
    """The golden record with each held field back at its current value (or empty, as it was)."""
    if not held or current is None:
        return golden
    values, lineage = dict(golden.values), dict(golden.lineage)
    for name in held:
        if current.values.get(name) is None:
            values.pop(name, None)
            lineage.pop(name, None)
            continue
        values[name] = current.values[name]
        lineage[name] = {**current.lineage.get(name, {}), "rule": HELD}
    return Golden(values, lineage)


def with_evidence(golden: Golden, evidence: Mapping[RecordKey, Mapping[str, Any]],
                  vouches: Mapping[str, Collection[str]]) -> Golden:
    """A value taken from a registry record names the check that vouches for it: what an
    accountant shows an auditor (which register said so, and when)."""
    lineage = dict(golden.lineage)
    for name, origin in golden.lineage.items():
        source = origin.get("source")
        if source not in vouches or name not in vouches[source]:
            continue
        found = evidence.get((source, origin.get("record_id") or ""))
        if found is not None:
            lineage[name] = {**origin, "registry_evidence": dict(found)}
    return Golden(golden.values, lineage)


def respelled(golden: Golden, current: CurrentGolden | None, compare: Mapping[str, str]) -> Golden:
    """The golden record with each field that only changed its spelling (the same comparison
    key, ``reconciliation.comparison``) back at its current value and lineage: a source that
    writes "PRAHA" for "Praha" makes no new version, and corrects nobody."""
    if current is None or current.values == golden.values:
        return golden
    values, lineage = dict(golden.values), dict(golden.lineage)
    country, was = golden.values.get(COUNTRY), current.values.get(COUNTRY)
    for name, value in golden.values.items():
        before = current.values.get(name)
        if before is not None and before != value and same(name, value, country, before, was, compare):
            values[name], lineage[name] = before, current.lineage.get(name, lineage[name])
    return Golden(values, lineage)


def _version(decided: GoldenDecisions, hub_id: str, golden: Golden, current: CurrentGolden | None) -> None:
    if current is not None and current.values == golden.values:
        return
    if current is not None:
        decided.superseded.append(hub_id)
        old = current.values
        decided.changes += [(hub_id, f, old.get(f), golden.values.get(f))
                            for f in sorted(set(old) | set(golden.values)) if old.get(f) != golden.values.get(f)]
    else:
        decided.changes += [(hub_id, f, None, v) for f, v in sorted(golden.values.items())]
    decided.versions.append(NewVersion(hub_id, current.version + 1 if current else 1, golden.values, golden.lineage))
