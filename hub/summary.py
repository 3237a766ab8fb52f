"""The summary a person reads at the end of a run, in the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.table import Table

from reconciliation.report import RunReport


def print_summary(report: RunReport, report_path: Path, console: Console | None = None,
                  skipped: Mapping[str, int] | None = None, review: str = "custhub serve") -> None:
    """``skipped``: the systems left out of the run (hub.pipeline.isolation.excluded);
    ``review``: the command that opens the review page where the reader is. Every
    column counts this run: "matched" are the records it read (new or changed) that share a
    hub id with another record."""
    console = console or Console()
    skipped = skipped or {}
    table = Table(title=f"custhub run {report.run_id} ({report.status})", title_justify="left",
                  caption="Every column counts this run; matched: the records it read new or changed "
                          "that share a hub id with another record.", caption_justify="left")
    # A dry run corrects nothing: its column says what it would fix instead.
    fixed = "would fix" if report.dry_run else "corrected"
    for column in ("system", "extracted", "matched", "new", fixed, "conflicts", "quarantined"):
        # never cut a header (an 80-column terminal fits them all); the title and caption wrap
        table.add_column(column, justify="left" if column == "system" else "right",
                         min_width=len(column))
    for line in report.systems:
        corrected = f"{line.corrected} ({line.refused} refused)" if line.refused else str(line.corrected)
        name = f"{line.system} (skipped)" if line.system in skipped else line.system
        cells = [name, line.extracted, line.matched, line.new,
                 line.would_correct if report.dry_run else corrected, line.in_conflict, line.quarantined]
        table.add_row(*(str(c) for c in cells))
    console.print(table)
    if skipped and report.message:  # the run's message says which system was left out, and why
        console.print(f"[yellow]Left out of this run: {report.message}[/yellow]", soft_wrap=True)
    console.print("Agreement with the golden record: " + ", ".join(
        f"{line.system} {line.agreement * 100:.1f} %" for line in report.systems))
    if report.nothing_changed:
        console.print("[green]Nothing changed: every system already held the golden values.[/green]")
    else:
        console.print(f"{report.golden_changed} golden record(s) created or changed; "
                      f"{report.differing} company field(s) differed.")
    for note in report.matching_notes:
        console.print(f"[yellow]{note}[/yellow]", soft_wrap=True)
    if report.findings:
        console.print(f"[yellow]{len(report.findings)} compan(y/ies) to check before invoicing "
                      "(invalid VAT ID, pending check, dissolved, insolvent): see the report.[/yellow]")
    if report.quarantine:
        console.print(f"[yellow]{len(report.quarantine)} record(s) wait in quarantine "
                      f"({report.quarantined_in_run} from this run): see the report.[/yellow]")
    conflicts = sum(line.in_conflict for line in report.systems)
    if conflicts:
        console.print(f"[yellow]{conflicts} conflict(s) wait for a data steward: `{review}` "
                      "opens the review page.[/yellow]")
    console.print(f"Report: [bold]{report_path.resolve()}[/bold]")
