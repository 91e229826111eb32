"""The terminal of the command line: one stdout and one stderr console, and how errors are shown."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from generator.errors import McuforgeError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def fail(exc: McuforgeError) -> typer.Exit:
    """Print an error and its hint (as plain text: file names may look like markup); the caller
    raises the returned ``typer.Exit`` with the error's exit code."""
    err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
    if exc.hint:
        err_console.print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False)
    return typer.Exit(exc.exit_code)
