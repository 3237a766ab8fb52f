"""The nightly bench's printed tables: the sandbox on its own, then every step of every run."""

from __future__ import annotations

import os
from typing import Any

MAX_RATIO = 13.0  # for 10x the companies
SHORT = 1.0  # seconds: a step this short is not flagged by its ratio


def print_result(result: dict[str, Any], before: dict[str, Any] | None) -> None:
    """``before``: the same store's result at the next smaller size, for the ratios."""
    _print_sandbox(result)
    # 10x the companies may cost 13x; another step between sizes scales the limit with it.
    limit = MAX_RATIO * (result["size"] / before["size"]) / 10 if before else None
    earlier = {r["key"]: r["seconds"] for r in before["rows"]} if before else {}
    print(f"\nnightly: {result['size']:,} companies, {result['store']} store"
          + (f" (ratio to {before['size']:,} flagged OVER past {limit:.1f}x)" if before else ""))
    print(f"  {'step':<38}{'seconds':>10}{'hub CPU s':>10}{'rows':>12}{'hub MB':>9}"
          f"{'estate MB':>11}  " + ("ratio" if before else ""))
    for r in result["rows"]:
        print(f"  {r['key']:<38}{r['seconds']:>10.2f}{_cpu(r.get('cpu_s')):>10}{_n(r['rows']):>12}"
              f"{_mb(r['hub_mb']):>9}{_mb(r['estate_mb']):>11}  "
              f"{_ratio(r['seconds'], earlier.get(r['key']), limit)}")
    print(f"  peak RSS over the process's life: hub worker {result['hub_peak_mb']:,.0f} MB, "
          f"estate {result['estate_peak_mb']:,.0f} MB; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    _print_steady(result)


def _print_sandbox(result: dict[str, Any]) -> None:
    ready, scanned = result["estate"], result["crm_scan"]
    records = ready["records"]
    print(f"\nsandbox on its own: {result['size']:,} companies "
          f"(the estate process of the {result['store']} run)")
    print(f"  generate                      {ready['generate_seconds']:>8.2f} s   peak RSS "
          f"{ready['generate_peak_rss_mb']:,.0f} MB, CPU {ready['generate_cpu_seconds']:.2f} s")
    for part, seconds in ready["start_seconds"].items():
        system = part.removesuffix("_export")
        what = ("export file written" if part != system else "loaded" if part in records
                else "look-alike index built")
        print(f"  {system + ' ' + what:<30}{seconds:>8.2f} s   {_n(records.get(system))}")
    if scanned:
        print(f"  crm page scan, raw HTTP       {scanned['seconds']:>8.2f} s   "
              f"{_n(scanned['accounts'])} accounts in {scanned['pages']:,} pages: "
              f"{scanned['records_per_s']:,.0f} records/s")


def _print_steady(result: dict[str, Any]) -> None:
    """What the steady run found changed next to what was changed in each system."""
    made = result["answers"]["change"]["changes"]
    print("  steady run found (new + changed + deleted at source) vs changed in the system:")
    for system, kinds in made.items():
        detail = ", ".join(f"{kind} {len(ids)}" for kind, ids in kinds.items())
        print(f"    {system:<11} found {found_changes(result, system):>8,}   changed "
              f"{sum(len(ids) for ids in kinds.values()):>8,} ({detail})")


def found_changes(result: dict[str, Any], system: str, phase: str = "steady") -> int:
    found = result["answers"][phase]["found"].get(system, {})
    return found.get("new", 0) + found.get("changed", 0) + found.get("deleted_at_source", 0)


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _cpu(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _ratio(now: float, before: float | None, limit: float | None) -> str:
    if before is None or limit is None:
        return ""
    if before <= 0:
        return "n/a (0 s before)"
    ratio = now / before
    if ratio > limit and now < SHORT:
        return f"{ratio:.1f}x  (over, but under {SHORT:.0f} s: fixed costs, not scale)"
    return f"{ratio:.1f}x" + ("  OVER" if ratio > limit else "")
