"""Which hub id each record belongs to: the xref's decisions around the Linker.

Incremental: a record whose content is unchanged since it was last reconciled keeps its hub
id (the Linker takes existing membership as given); new records and records whose content
changed are matched against everything; a changed record that finds nothing better keeps
its former hub id. A steward's placement (xref rule ``steward``) is never undone by a rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import polars as pl

from core.hashing import content_hash
from reconciliation.decisions import PairDecision, pair_fingerprint
from reconciliation.matching import StewardPairs
from reconciliation.records import MemberRecord, RecordKey, RecordSet, ReviewQuestion

STEWARD_RULE = "steward"  # the xref rule of a record a person placed; matching leaves it there


def linker_input(frame: pl.DataFrame, records: RecordSet) -> pl.DataFrame:
    """The records frame (``reconciliation.members.records_frame``) as the Linker reads it: with
    ``hub_id`` for a record whose membership is kept and ``previous_hub_id`` for a changed one."""
    hub, previous = [], []
    for m in records.members:
        row = records.xref.get(m.key)
        pinned = row is not None and (row.rule == STEWARD_RULE or not records.changed(m.key))
        hub.append(row.hub_id if pinned else None)
        previous.append(row.hub_id if row is not None and not pinned else None)
    return frame.with_columns(pl.Series("hub_id", hub, dtype=pl.String),
                              pl.Series("previous_hub_id", previous, dtype=pl.String))


def steward_pairs(decisions: Iterable[PairDecision], records: RecordSet,
                  material: Iterable[str]) -> tuple[StewardPairs, list[int]]:
    """The match / not-a-match decisions still valid, and the ids of those that expire because
    one of their records changed materially (a decision without a fingerprint never expires)."""
    values = {m.key: m.values for m in records.members}
    fields = sorted(material)
    must, cannot, expired = [], [], []
    for d in decisions:
        if d.a not in values or d.b not in values:
            continue  # a decision about a hub id (link/unlink) or a record gone: the xref holds it
        if d.fingerprint and d.fingerprint != pair_fingerprint(values[d.a], values[d.b], fields):
            expired.append(d.decision_id)
            continue
        (must if d.is_match else cannot).append((d.a, d.b))
    return StewardPairs(must_link=must, cannot_link=cannot), expired


@dataclass
class Links:
    hub_ids: dict[RecordKey, str] = field(default_factory=dict)
    rules: dict[RecordKey, str] = field(default_factory=dict)  # the rule that placed each record
    new_hub_ids: set[str] = field(default_factory=set)


def assign(clusters: pl.DataFrame, allocate: Callable[[], str]) -> Links:
    """A hub id per record: the Linker's, or one fresh id (from ``allocate``) per new cluster,
    allocated in record order so that the same estate gets the same ids."""
    links = Links()
    fresh: dict[int, str] = {}
    for system, record_id, cluster, hub_id, rule, _ in clusters.sort("system", "record_id").iter_rows():
        if hub_id is None:
            if cluster not in fresh:
                fresh[cluster] = allocate()
                links.new_hub_ids.add(fresh[cluster])
            hub_id = fresh[cluster]
        links.hub_ids[(system, record_id)] = hub_id
        links.rules[(system, record_id)] = rule
    return links


class XrefChange(NamedTuple):
    key: RecordKey
    hub_id: str
    rule: str
    source_hash: str


@dataclass
class XrefChanges:
    added: list[XrefChange] = field(default_factory=list)  # records new to the xref
    moved: list[XrefChange] = field(default_factory=list)  # records now under another hub id
    rehashed: list[XrefChange] = field(default_factory=list)  # same hub id, new content


def xref_changes(links: Links, records: RecordSet) -> XrefChanges:
    changes = XrefChanges()
    for key, hub_id in links.hub_ids.items():
        row, change = records.xref.get(key), XrefChange(key, hub_id, links.rules[key], records.hashes[key])
        if row is None:
            changes.added.append(change)
        elif row.hub_id != hub_id:
            changes.moved.append(change)
        elif row.source_hash != change.source_hash:
            changes.rehashed.append(change)
    return changes


def match_questions(candidates: pl.DataFrame, links: Links, material: Iterable[str]) -> list[ReviewQuestion]:
    """Pairs in the Linker's review band as match_candidate questions, one per pair."""
    questions: dict[str, ReviewQuestion] = {}
    for sa, ra, sb, rb, probability, reason in candidates.iter_rows():
        a, b = sorted([(sa, ra), (sb, rb)])
        fingerprint = content_hash(["match_candidate", a, b])
        questions.setdefault(fingerprint, ReviewQuestion(
            kind="match_candidate", fingerprint=fingerprint, hub_id=links.hub_ids.get(a), system=a[0],
            record_id=a[1], other_system=b[0], other_record_id=b[1],
            candidates={"probability": round(probability, 4), "hub_a": links.hub_ids.get(a),
                        "hub_b": links.hub_ids.get(b), "material": sorted(material)},
            reason=f"{reason}: match probability {probability:.2f}"))
    return list(questions.values())


def clusters_by_hub(members: Sequence[MemberRecord], hub_ids: dict[RecordKey, str]) -> dict[str, list[MemberRecord]]:
    by_hub: dict[str, list[MemberRecord]] = defaultdict(list)
    for member in members:
        by_hub[hub_ids[member.key]].append(member)
    return dict(by_hub)
