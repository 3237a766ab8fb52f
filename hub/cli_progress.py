"""A run's progress on a person's terminal: which step runs, how many are done, for how long.

Shown only when the output is an interactive terminal (never in a pipe, a file or an Airflow
task log), and gone once the run ends: the summary that follows says what happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn)

from hub.config import HubConfig
from hub.pipeline.timings import HUB, watching


def expected_steps(config: HubConfig) -> int:
    """extract and map per system, registries, reconcile, publish per system, report."""
    systems = len(config.enabled_systems())
    return 3 * systems + 3


@contextmanager
def run_progress(console: Console, total: int) -> Iterator[None]:
    if not console.is_interactive:
        yield
        return
    columns = (SpinnerColumn(), TextColumn("{task.description:<24}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("starting", total=total)
        # The current step's records (read, mapped, checked, sent): a bar where the step knows
        # its total, a count where it cannot (an export before it is read).
        records = progress.add_task("  records", total=None, visible=False)
        started = [0]  # steps begun so far: the one before the current is done

        def step_started(step: str, system: str) -> None:
            progress.update(task, completed=min(started[0], total),
                            description=step if system == HUB else f"{step} {system}")
            progress.reset(records, total=None, visible=False)
            started[0] += 1

        def step_advanced(done: int, of: int | None) -> None:
            progress.update(records, completed=done, total=of, visible=True)

        with watching(step_started, step_advanced):
            yield
