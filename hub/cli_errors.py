"""The CLI's one error boundary: a user's mistake is one clear message, never a traceback.

Every command runs inside ``CusthubGroup``. A ``CusthubError`` raised anywhere below is printed
once, on stderr, and the command exits 1; so is a mistake on the command line (an unknown
option, a bad value, a missing argument), as one line naming the command's ``--help``, instead
of click's usage box and exit 2. ``custhub --debug …`` re-raises a CusthubError for the
traceback. Errors that are not ``CusthubError`` are bugs and keep their traceback.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer carries its own click
from typer.core import TyperGroup

from core.errors import CusthubError
from hub.connections import ConnectionUndefined

DEBUG_KEY = "debug"
_stderr = Console(stderr=True)
# What a person at a terminal most likely wants next, after the error's own words.
_HINTS: dict[type[CusthubError], str] = {
    ConnectionUndefined: "for the demo's estate, run custhub inside `make demo-shell`",
}


class CusthubGroup(TyperGroup):
    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except NoArgsIsHelpError:  # `custhub` or `custhub xref` alone: the help, as click shows it
            return super().main(*args, standalone_mode=True, **kwargs)
        except UsageError as error:
            where = error.ctx.command_path if error.ctx else "custhub"
            _fail(f"{error.format_message()} (see: {where} --help)")
        except typer.TyperException as error:  # click's other errors: a file it could not open
            _fail(error.format_message())
        except typer.Abort:  # Ctrl-D at a prompt
            _fail("aborted")
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CusthubError as error:
            if (ctx.obj or {}).get(DEBUG_KEY):
                raise
            hint = next((h for kind, h in _HINTS.items() if isinstance(error, kind)), None)
            _stderr.print(Text(f"error: {error}" + (f" ({hint})" if hint else ""), style="red"), soft_wrap=True)
            raise typer.Exit(1) from None


def _fail(message: str) -> NoReturn:
    _stderr.print(Text(f"error: {message}", style="red"), soft_wrap=True)
    sys.exit(1)
