"""Steward commands: ``custhub review``, ``custhub approve``, ``custhub xref``, ``custhub match``.

Thin: each command calls the service functions in hub.review, hub.xref_ops and
hub.match_files, which the review web page calls too.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hub import review, xref_ops
from core.errors import ConfigError, DataError
from hub.cli_store import existing_store
from hub.config import load_config
from hub.match_files import (FileMatch, match_files, match_schema_files, parse_input, parse_schema_input, write_clusters,
                              write_explain, write_rejected)
from hub.pipeline.nightly import approve_and_resume
from reconciliation.matching import MatchSettings

console = Console()
ConfigOption = Annotated[Path | None, typer.Option("--config", help="hub.yaml to use")]
ActorOption = Annotated[str, typer.Option("--by", help="who decides (default: your login)")]
ReasonOption = Annotated[str, typer.Option("--reason", help="why: kept in the audit trail")]
ItemId = Annotated[int, typer.Argument(help="the review item's id, as custhub review list shows it")]
HubId = Annotated[str, typer.Argument(help="a golden record's hub id (H…)")]
SystemArg = Annotated[str, typer.Argument(help="the record's system (crm, accounting, erp…)")]
RecordIdArg = Annotated[str, typer.Argument(help="the record's id in that system")]

review_app = typer.Typer(help="The review queue: conflicts and match candidates.", no_args_is_help=True)
xref_app = typer.Typer(help="The cross-reference: golden records and their records.", no_args_is_help=True)


def _actor(value: str) -> str:
    return value or getpass.getuser()


def _engine(config: Path | None):  # type: ignore[no-untyped-def]
    return existing_store(load_config(config))  # a steward command never creates a store


@review_app.command("list")
def review_list(config: ConfigOption = None,
                kind: Annotated[str | None, typer.Option(help="conflict or match_candidate")] = None,
                all_: Annotated[bool, typer.Option("--all", help="resolved items too")] = False) -> None:
    """Open review items, oldest first."""
    items = review.list_items(_engine(config), status=None if all_ else "open", kind=kind)
    table = Table(title="Review queue", title_justify="left")
    for column in ("id", "kind", "status", "hub id", "record", "field", "reason"):
        table.add_column(column)
    for i in items:
        other = f" ~ {i.other_system}:{i.other_record_id}" if i.other_system else ""
        table.add_row(str(i.id), i.kind, i.status, i.hub_id or "", f"{i.system}:{i.record_id}{other}",
                      i.field or "", i.reason)
    console.print(table)


@review_app.command("show")
def review_show(item_id: ItemId, config: ConfigOption = None) -> None:
    """One item with its candidates (the values, or the match probability)."""
    item = review.get_item(_engine(config), item_id)
    console.print(f"[bold]#{item.id} {item.kind}[/bold] ({item.status}) hub {item.hub_id} "
                  f"{item.system}:{item.record_id} {item.field or ''}\n{item.reason}")
    console.print_json(json.dumps(item.candidates, ensure_ascii=False, default=str))


@review_app.command("resolve")
def review_resolve(item_id: ItemId, value: Annotated[str, typer.Argument(
                       help="the right value, as you would write it: checked and normalized like the "
                            "systems' data (1 000,50 -> 1000.50); a refused value stores nothing")],
                   reason: ReasonOption, by: ActorOption = "", config: ConfigOption = None) -> None:
    """Resolve a conflict: this value wins from the next run on."""
    # read by the field's normalizer; a refused value is one line on stderr, exit 1, nothing stored
    decision = review.resolve_conflict(_engine(config), item_id, value, _actor(by), reason)
    console.print(f"Decision {decision} recorded; the next run uses it.")


@review_app.command("decide")
def review_decide(item_id: ItemId, verdict: Annotated[str, typer.Argument(help="match or not-match")],
                  reason: ReasonOption, by: ActorOption = "", config: ConfigOption = None) -> None:
    """Decide a match candidate: match merges the two hub ids; not-match keeps them apart."""
    if verdict not in {"match", "not-match"}:
        raise typer.BadParameter("verdict must be match or not-match", param_hint="VERDICT")
    decision = review.decide_match(_engine(config), item_id, verdict == "match", _actor(by), reason)
    console.print(f"Decision {decision} recorded.")


@review_app.command("dismiss")
def review_dismiss(item_id: ItemId, reason: ReasonOption, by: ActorOption = "", config: ConfigOption = None) -> None:
    """Close an item without a decision: nothing changes, the next run may raise it again."""
    review.dismiss(_engine(config), item_id, _actor(by), reason)


def approve(run_id: Annotated[str, typer.Argument(help="the held run's id, as custhub status shows it")],
            by: ActorOption = "",
            reason: Annotated[str | None, typer.Option(help="why it may publish: kept in the audit trail")] = None,
            config: ConfigOption = None) -> None:
    """Approve a run a guard stopped, then publish it."""
    cfg = load_config(config)
    existing_store(cfg)
    # approved and published under the store's lease: refused while another run works
    actor = _actor(by)
    result = approve_and_resume(cfg, run_id,
                                lambda engine: review.approve_run(engine, run_id, actor, reason))
    console.print(f"Run {run_id} approved and published ({result.status}). Report: {result.report}")


@xref_app.command("show")
def xref_show(hub_id: HubId, config: ConfigOption = None,
              at: Annotated[datetime | None, typer.Option(help="as it was at this time (UTC)")] = None,
              version: Annotated[int | None, typer.Option(help="this version")] = None) -> None:
    """A golden record (current, at a time, or a version), its lineage and its records.

    A hub id merged into another forwards to the one that holds its records now (with a note);
    --at or --version still show the merged-away record's own history."""
    engine = _engine(config)
    moved = xref_ops.merged_into(engine, hub_id)
    if moved is not None:
        for gone, into, by, when, why in moved.steps:
            console.print(f"{gone} was merged into {into} on {when:%Y-%m-%d %H:%M} by {by}"
                          f"{f': {why}' if why else ''}", soft_wrap=True)
        if at is None and version is None:
            hub_id = moved.hub_id
    shown = xref_ops.golden_at(engine, hub_id, at=at, version=version)
    if shown is None:
        raise DataError(f"no golden record {hub_id} for that time or version")
    table = Table(title=f"{hub_id} version {shown.version} (run {shown.run_id}, {shown.created_at:%Y-%m-%d %H:%M})",
                  title_justify="left")
    for column in ("field", "value", "source", "record", "rule"):
        table.add_column(column)
    for name, value in sorted(shown.values.items()):
        origin: dict[str, Any] = shown.lineage.get(name, {})
        table.add_row(name, str(value), str(origin.get("source", "")), str(origin.get("record_id", "")),
                      str(origin.get("rule", "")))
    console.print(table)
    console.print("Records: " + ", ".join(f"{s}:{r}" for s, r in xref_ops.members(engine, hub_id)))
    console.print("Versions: " + ", ".join(str(v.version) for v in xref_ops.golden_history(engine, hub_id)))


@xref_app.command("link")
def xref_link(system: SystemArg, record_id: RecordIdArg, hub_id: HubId, reason: ReasonOption, by: ActorOption = "",
              config: ConfigOption = None) -> None:
    """Link a system's record to a golden record (moving it from the one it was in)."""
    _run(lambda e: xref_ops.link(e, system, record_id, hub_id, _actor(by), reason), config)


@xref_app.command("unlink")
def xref_unlink(system: SystemArg, record_id: RecordIdArg, reason: ReasonOption, by: ActorOption = "",
                config: ConfigOption = None) -> None:
    """Take a record out of its golden record, into a new hub id of its own."""
    _run(lambda e: xref_ops.unlink(e, system, record_id, _actor(by), reason), config)


@xref_app.command("merge")
def xref_merge(into_hub_id: Annotated[str, typer.Argument(help="the hub id that stays")],
               other_hub_id: Annotated[str, typer.Argument(help="the hub id merged into it (then retired)")],
               reason: ReasonOption, by: ActorOption = "", config: ConfigOption = None) -> None:
    """Merge two golden records that are one company: every record of the second joins the first."""
    _run(lambda e: xref_ops.merge(e, into_hub_id, other_hub_id, _actor(by), reason), config)


@xref_app.command("split")
def xref_split(hub_id: HubId, records: Annotated[list[str], typer.Argument(help="system:record_id …")],
               reason: ReasonOption, by: ActorOption = "", config: ConfigOption = None) -> None:
    """Split records out of a golden record that holds two companies: they get a new hub id."""
    _run(lambda e: xref_ops.split(e, hub_id, [_record_ref(r) for r in records], _actor(by), reason), config)


def _record_ref(text: str) -> tuple[str, str]:
    system, sep, record_id = text.partition(":")
    if not sep or not system or not record_id:
        raise typer.BadParameter(f"{text!r} is not system:record_id", param_hint="RECORDS")
    return system, record_id


def _run(operation, config: Path | None) -> None:  # type: ignore[no-untyped-def]
    result = operation(_engine(config))
    console.print(f"Done{f': {result}' if result is not None else ''}. The next run rebuilds the golden records.")


def match(inputs: Annotated[list[str], typer.Argument(
              help="FILE=SPEC[:SYSTEM], e.g. erp.csv=erp; with --schema FILE[=SYSTEM]")],
          out: Annotated[Path, typer.Option("--out", help="clusters CSV to write")],
          golden: Annotated[bool, typer.Option(help="match against the store's golden records too")] = False,
          workers: Annotated[int, typer.Option(min=1, help="processes normalizing values (2 on a multi-core machine)")] = 1,
          explain: Annotated[Path | None, typer.Option(
              "--explain", help="HTML page: m/u per level, weight histogram, sample pairs' waterfalls")] = None,
          schema: Annotated[Path | None, typer.Option(
              "--schema", help="record schema YAML (fields, normalizers, matching), e.g. config/schemas/person.yaml; "
                               "default: Customers by the mapping specs and hub.yaml's matching")] = None,
          config: ConfigOption = None) -> None:
    """Link CSV files into clusters (system, record_id, cluster_id) with the hub's match rules,
    or, with --schema, any record type by the schema's own rules."""
    if schema is not None:
        settings, found = _match_by_schema(inputs, schema, golden, explain is not None)
    else:
        cfg = load_config(config)
        settings = cfg.matching
        parsed = [parse_input(i) for i in inputs]
        current = _golden_values(cfg) if golden else None
        found = match_files(parsed, cfg.matching, current, workers, cfg.mapping.country_aliases,
                            explain=explain is not None)
    write_clusters(found.clusters, out)
    rejected = write_rejected(found.rejected, out)
    clusters = found.clusters["cluster_id"].n_unique()
    console.print(f"{found.clusters.height} records in {clusters} clusters -> {out}; "
                  f"{found.result.candidates.height} pairs for review", soft_wrap=True)
    for warning in found.result.training_warnings:  # the clusters above come from the fallback
        console.print(f"[yellow]warning: {warning}[/yellow]", soft_wrap=True)
    if rejected is not None:  # every one is in the file: a count alone would hide which
        console.print(f"[yellow]{len(found.rejected)} rows rejected (did not map), every one with its "
                      f"reason -> {rejected}[/yellow]", soft_wrap=True)
        for line in found.rejected[:5]:
            console.print(f"  [yellow]{line}[/yellow]", soft_wrap=True)
    else:
        console.print("0 rows rejected")
    if explain is not None:  # last: a page it cannot write loses neither clusters nor rejected rows
        write_explain(found.result, settings, explain)
        console.print(f"How the model weighs pairs -> {explain}", soft_wrap=True)


def _match_by_schema(inputs: list[str], path: Path, golden: bool, explain: bool) -> tuple[MatchSettings, FileMatch]:
    """The schema's records: neither hub.yaml nor the store is read (golden records are Customers)."""
    from reconciliation.matching.schema import load_schema

    if golden:
        raise ConfigError("--golden matches against the store's Customers; it takes no --schema")
    record_schema = load_schema(path)
    return record_schema.matching, match_schema_files([parse_schema_input(i) for i in inputs], record_schema,
                                                     explain=explain)


def _golden_values(cfg) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from hub.store.db import session_scope
    from hub.store.models import GoldenRecord

    with session_scope(existing_store(cfg)) as session:  # --golden reads a store, never makes one
        rows = session.scalars(select(GoldenRecord).where(GoldenRecord.is_current.is_(True)))
        return {r.hub_id: dict(r.values) for r in rows}
