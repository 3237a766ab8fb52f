"""The custhub command line: the same steps the DAGs run, for people and scripts."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select

from hub.cli_errors import DEBUG_KEY, CusthubGroup
from hub.cli_output import configure_output
from hub.cli_progress import expected_steps, run_progress
from hub.cli_store import existing_store
from hub.config import load_config
from hub.pipeline import lease
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.isolation import excluded
from hub.pipeline.nightly import run_nightly
from hub.pipeline.scope import request_full
from hub.pipeline.report import build_report
from hub.store.db import session_scope
from hub.store.models import GoldenRecord, Outbox, Quarantine, Run
from hub.summary import print_summary

app = typer.Typer(help="custhub: customer master data, consistent across CRM, accounting and ERP.",
                  no_args_is_help=True, cls=CusthubGroup, pretty_exceptions_enable=False)
run_app = typer.Typer(help="Run a job now.", no_args_is_help=True)
app.add_typer(run_app, name="run")
console = Console()
ConfigOption = Annotated[Path | None, typer.Option("--config", help="hub.yaml to use")]


@app.callback()
def root(ctx: typer.Context,
         debug: Annotated[bool, typer.Option(
             "--debug", help="show the traceback of an error, and every library's log lines")] = False,
         verbose: Annotated[bool, typer.Option(
             "--verbose", "-v", help="show INFO log lines (SFTP logins, timings, migrations)")] = False) -> None:
    """custhub: customer master data, consistent across CRM, accounting and ERP.

    Reads config/hub.yaml (or --config, or CUSTHUB_CONFIG); systems are reached through Airflow
    connections (AIRFLOW_CONN_*). After `make demo`, `make demo-shell` opens a shell that reaches
    the demo's estate and store."""
    configure_output(verbose or debug)
    ctx.obj = {DEBUG_KEY: debug}


@run_app.command("nightly")
def nightly(config: ConfigOption = None,
            dry_run: Annotated[bool, typer.Option(help="compute everything, write nothing back")] = False,
            wait: Annotated[bool, typer.Option(
                "--wait", help="if another run holds the store, wait for it instead of refusing")] = False,
            wait_timeout: Annotated[float, typer.Option(
                min=0, help="with --wait: give up after this many seconds")] = 3600,
            full: Annotated[bool, typer.Option(
                "--full", help="reconcile the whole estate, not only what changed")] = False) -> None:
    """Extract, map, check registries, reconcile, publish and report, once."""
    cfg = load_config(config)
    signal.signal(signal.SIGTERM, _stop)
    if full:
        with session_scope(open_store(cfg)) as session:
            request_full(session)
    with run_progress(console, expected_steps(cfg)):
        result = run_nightly(cfg, dry_run=dry_run, wait=wait_timeout if wait else None)
    ctx = RunContext(config=cfg, engine=open_store(cfg), run_id=result.run_id)
    print_summary(build_report(ctx), result.report, console, skipped=excluded(ctx))
    _print_outcome(result, dry_run)


@app.command()
def status(config: ConfigOption = None) -> None:
    """The last runs, and what waits: pending corrections, open quarantine."""
    cfg = load_config(config)
    engine = existing_store(cfg)
    with session_scope(engine) as session:
        runs = session.scalars(select(Run).order_by(Run.started_at.desc()).limit(10)).all()
        golden = session.scalar(select(func.count()).where(GoldenRecord.is_current.is_(True)))
        pending = session.scalar(select(func.count()).where(Outbox.status == "pending"))
        quarantined = session.scalar(select(func.count()).where(Quarantine.resolved_at.is_(None)))
    console.print(_runs_table(runs))
    for run in runs:  # an error or a guard's reason: too long for a column of a narrow terminal
        if run.message:
            console.print(Text(f"{run.id}: {run.message}", style="dim"))
    console.print(f"Golden records: {golden} · corrections pending: {pending} · "
                  f"quarantined records open: {quarantined}")
    holder = lease.current(engine)
    console.print(f"Store lease: held by {holder.describe()}" if holder else "Store lease: free")



@app.command()
def serve(config: ConfigOption = None,
          host: Annotated[str | None, typer.Option(help="address to listen on (default: review.host)")] = None,
          port: Annotated[int | None, typer.Option(help="port (default: review.port)")] = None) -> None:
    """Open the review page for data stewards: conflicts, match candidates, golden history."""
    import uvicorn

    from hub.web.serve import standalone_app

    cfg = load_config(config)
    existing_store(cfg)  # the page only shows and decides what runs stored
    web = standalone_app(cfg)
    host, port = host or cfg.review.host, port or cfg.review.port
    console.print(f"Review page: [bold]http://{host}:{port}/[/bold] (Ctrl+C stops it)")
    uvicorn.run(web, host=host, port=port, log_level="warning", server_header=False)


@app.command("hash-password")
def hash_password_command() -> None:
    """Ask for a password and print its hash, for review.users in hub.yaml."""
    from hub.web.auth import hash_password

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        console.print("[red]Use at least 10 characters.[/red]")
        raise typer.Exit(1)
    typer.echo(hash_password(password))


def _runs_table(runs: list[Run]) -> Table:
    """The run id is what `custhub approve` takes: never cut, whatever the terminal's width."""
    table = Table(title="Last runs", title_justify="left")
    table.add_column("run", no_wrap=True, min_width=max((len(r.id) for r in runs), default=3))
    for column in ("kind", "status", "started", "finished"):
        table.add_column(column)
    for run in runs:
        table.add_row(run.id, run.kind, run.status, f"{run.started_at:%Y-%m-%d %H:%M}",
                      f"{run.finished_at:%H:%M:%S}" if run.finished_at else "")
    return table


def _stop(signum: int, _frame: object) -> None:
    """SIGTERM (a service manager, a container stop): the run stops at its next step boundary,
    ends failed and releases the store's lease, instead of leaving it to expire."""
    lease.request_stop(f"stopped by {signal.Signals(signum).name}")


def _print_outcome(result, dry_run: bool) -> None:  # type: ignore[no-untyped-def]
    """A held run and a dry run say what they did not do, and what would change."""
    if result.status == "awaiting_approval":
        console.print(f"[yellow]Held before publishing: {result.held}[/yellow]\n"
                      f"Approve with: custhub approve {result.run_id}")
    if dry_run and result.reconciled is not None:
        changes = result.reconciled.changes
        console.print(f"Dry run: {len(changes)} golden field(s) would change; nothing was written back.")
        for hub_id, field, old, new in changes[:20]:
            console.print(f"  {hub_id} {field}: {old!r} -> {new!r}")


def _register_steward_commands() -> None:
    from hub import cli_steward

    app.add_typer(cli_steward.review_app, name="review")
    app.add_typer(cli_steward.xref_app, name="xref")
    app.command("approve")(cli_steward.approve)
    app.command("match")(cli_steward.match)


_register_steward_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
