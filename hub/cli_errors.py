"""The CLI's one error boundary: a user's mistake is one clear message, never a traceback.

Every command runs inside ``CusthubGroup.invoke``; a ``CusthubError`` raised anywhere below
is printed once, on stderr, and the command exits 1. ``custhub --debug …`` re-raises it for
the traceback. Errors that are not ``CusthubError`` are bugs and keep their traceback.
"""

from __future__ import annotations

from typing import Any

import click
import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from core.errors import CusthubError

DEBUG_KEY = "debug"
_stderr = Console(stderr=True)


class CusthubGroup(TyperGroup):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CusthubError as error:
            if (ctx.obj or {}).get(DEBUG_KEY):
                raise
            _stderr.print(Text(f"error: {error}", style="red"), soft_wrap=True)
            raise typer.Exit(1) from None
