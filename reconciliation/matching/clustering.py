"""Clustering: links to entities. Connected components for the bulk, vectorized with numpy;
a constrained union-find only for the few components that break a rule.

A component breaks a rule when it would hold two values of an exclusive key (two
different valid IČO, two existing hub ids) or two records a steward said are not a
match. Such a component is rebuilt edge by edge, strongest first (forced edges, then
keys, then probabilistic links by weight), refusing every union that would break a
rule: a chain of weak links can never join two companies that the keys keep apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

FORCED = float("inf")  # existing membership and steward "match" decisions: taken as given


def connected_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Label per node: the smallest node number in its component (hooking + pointer jumping)."""
    labels = np.arange(n, dtype=np.int64)
    while True:
        la, lb = labels[a], labels[b]
        differ = la != lb
        if not differ.any():
            return labels
        la, lb = la[differ], lb[differ]
        np.minimum.at(labels, np.maximum(la, lb), np.minimum(la, lb))
        labels = _flatten(labels)


def _flatten(labels: np.ndarray) -> np.ndarray:
    while True:
        jumped = labels[labels]
        if np.array_equal(jumped, labels):
            return labels
        labels = jumped


@dataclass(frozen=True)
class Edge:
    a: int
    b: int
    weight: float
    reason: str


@dataclass
class Resolution:
    root: dict[int, int] = field(default_factory=dict)
    refused: list[tuple[Edge, str]] = field(default_factory=list)


class ConstrainedUnionFind:
    """Union-find whose groups carry their exclusive values and refuse conflicting unions."""

    def __init__(self, nodes: Iterable[int], exclusive: Mapping[int, Mapping[str, str]],
                 cannot_link: Iterable[tuple[int, int]]) -> None:
        self.parent = {n: n for n in nodes}
        self.values = {n: {k: {v} for k, v in exclusive.get(n, {}).items()} for n in self.parent}
        self.members = {n: {n} for n in self.parent}
        self.apart: dict[int, set[int]] = {}
        for x, y in cannot_link:
            self.apart.setdefault(x, set()).add(y)
            self.apart.setdefault(y, set()).add(x)

    def find(self, node: int) -> int:
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def conflict(self, ra: int, rb: int) -> str | None:
        for key, mine in self.values[ra].items():
            theirs = self.values[rb].get(key)
            if theirs and not mine & theirs:
                return f"different {key}"
        if any(self.apart.get(m, set()) & self.members[rb] for m in self.members[ra]):
            return "steward: not a match"
        return None

    def union(self, edge: Edge) -> str | None:
        """None when joined (or already together); otherwise why the union was refused."""
        ra, rb = self.find(edge.a), self.find(edge.b)
        if ra == rb:
            return None
        why = None if edge.weight == FORCED else self.conflict(ra, rb)
        if why is not None:
            return why
        ra, rb = min(ra, rb), max(ra, rb)
        self.parent[rb] = ra
        for key, vals in self.values.pop(rb).items():
            self.values[ra].setdefault(key, set()).update(vals)
        self.members[ra] |= self.members.pop(rb)
        return None


def resolve(nodes: Sequence[int], edges: Sequence[Edge], exclusive: Mapping[int, Mapping[str, str]],
            cannot_link: Iterable[tuple[int, int]]) -> Resolution:
    """Rebuild one troubled component edge by edge, strongest first."""
    groups = ConstrainedUnionFind(nodes, exclusive, cannot_link)
    result = Resolution()
    for edge in sorted(edges, key=lambda e: (-e.weight, e.a, e.b)):
        why = groups.union(edge)
        if why is not None:
            result.refused.append((edge, why))
    result.root = {n: groups.find(n) for n in nodes}
    return result
