"""Conflicts: what no rule may decide, asked of a steward, and which steward choices still hold.

A conflict is two trusted sources (those a field's rule lists) changing the same field to
different values since the last run. The field then keeps its previous golden value, nothing
is corrected on it, and a question asks a steward; the steward's choice is the top rule from
the next run on, until a source takes a value of the field that is neither the chosen one nor
the one it held then (``reconciliation.decisions.chosen_holds``). A write the target refused
(it changed since we read it) is a conflict too, one question per field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.hashing import content_hash
from reconciliation.comparison import COUNTRY, value_key
from reconciliation.decisions import ChosenValue, chosen_holds
from reconciliation.records import CurrentGolden, MemberRecord, RecordKey, ReviewQuestion
from reconciliation.survivorship_rules import SurvivorshipRule


def holding_choices(chosen: Mapping[str, Mapping[str, ChosenValue]],
                    clusters: Mapping[str, Sequence[MemberRecord]]) -> tuple[dict[str, dict[str, ChosenValue]], list[int]]:
    """Per hub id in ``clusters``, the steward's choices whose evidence still holds; and the
    decision ids of those that expire (their sources moved on)."""
    holding: dict[str, dict[str, ChosenValue]] = {}
    expired: list[int] = []
    for hub_id, choices in chosen.items():
        if hub_id not in clusters:
            continue
        holding[hub_id] = {}
        for name, choice in choices.items():
            if chosen_holds(choice, clusters[hub_id]):
                holding[hub_id][name] = choice
            else:
                expired.append(choice.decision_id)
    return holding, expired


def conflicts(hub_id: str, cluster: Sequence[MemberRecord], current: CurrentGolden | None,
              changed: Callable[[RecordKey], bool], rules: Mapping[str, SurvivorshipRule],
              holding: Mapping[str, ChosenValue], compare: Mapping[str, str] | None = None,
              ) -> dict[str, ReviewQuestion]:
    """The fields of one hub id that two trusted sources changed to different values since the
    last run (``changed``: a record's content moved on), each with the question it raises.
    A field a steward's choice holds is decided already; a new hub id has nothing to hold.
    Values are compared by their field's comparison key (``reconciliation.comparison``):
    "PRAHA" and "Praha", or "L-1855" and "1855" in Luxembourg, are one value, not a conflict."""
    if current is None:
        return {}
    moving = [m for m in cluster if changed(m.key)]
    if not moving:
        return {}
    found = {}
    country = current.values.get(COUNTRY)
    for name, rule in rules.items():
        if name in holding:
            continue
        before = current.values.get(name)
        # A conflict needs two systems whose value moved away from the golden one: a record
        # holding the golden value as it is (in the golden country) cannot be one of them,
        # so most fields are settled here without computing a comparison key.
        away = {m.system for m in moving if m.system in rule.sources and m.values.get(name) is not None
                and not (m.values[name] == before and m.values.get(COUNTRY) == country)}
        if len(away) < 2:
            continue
        was = value_key(name, before, country, compare)
        keys = {m.key: value_key(name, m.values[name], m.values.get(COUNTRY), compare) for m in moving
                if m.system in rule.sources and m.values.get(name) is not None}
        moved = {m.key: m.values[name] for m in moving if m.key in keys and keys[m.key] != was}
        if len({system for system, _ in moved}) > 1 and len({keys[k] for k in moved}) > 1:
            found[name] = _conflict(hub_id, name, before, moved)
    return found


def holds_its_field(candidates: Mapping[str, Any]) -> bool:
    """True for a conflict ``conflicts`` raised (its candidates name records, "system:id"): while
    it is open its field stays at the golden value. A correction a target refused
    (``refused_questions``, candidates by system) holds nothing: the next run reads the target."""
    return any(":" in key for key in candidates)


def _conflict(hub_id: str, name: str, before: Any, moved: Mapping[RecordKey, Any]) -> ReviewQuestion:
    candidates = {f"{system}:{record_id}": v for (system, record_id), v in sorted(moved.items())}
    first = min(moved)
    return ReviewQuestion(kind="conflict", fingerprint=content_hash(["conflict", hub_id, name, candidates]),
                          hub_id=hub_id, system=first[0], record_id=first[1], field=name,
                          candidates={**candidates, "golden": before},
                          reason=f"{', '.join(sorted({s for s, _ in moved}))} changed {name} differently")


def refused_questions(idempotency_key: str, hub_id: str | None, system: str, record_id: str,
                      values: Mapping[str, Any], error: str | None) -> list[ReviewQuestion]:
    """A correction the target refused, as one conflict question per field it would have set.

    The next run reads the target's new state; the steward decides which value is right.
    """
    return [ReviewQuestion(kind="conflict", fingerprint=content_hash(["refused", idempotency_key, name]),
                           hub_id=hub_id, system=system, record_id=record_id, field=name,
                           candidates={"golden": value, system: "changed at the source"},
                           reason=f"{system} refused the correction: {error}")
            for name, value in sorted(values.items())]
