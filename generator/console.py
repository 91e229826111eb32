"""The terminal of the command line: one stdout and one stderr console, and how errors are shown.

Whatever reaches the terminal comes partly from outside (file names, tensor and layer names, board
fields), so printing must never fail: callers escape outside text with :func:`rich.markup.escape`,
and as a last defence the consoles render text whose markup does not parse as plain text, show
undecodable bytes of file names as ``\\xNN``, and :func:`harden_streams` makes the standard streams
replace what the terminal's encoding cannot show.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console
from rich.errors import MarkupError
from rich.markup import escape
from rich.status import Status
from rich.text import Text

from generator.errors import McuforgeError
from generator.output import safe_text


class SafeConsole(Console):
    """A rich console whose rendering of strings never raises on their content."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        """As :meth:`Console.render_str`; text that is not valid markup is shown as it is."""
        text = safe_text(text)
        try:
            return super().render_str(text, **kwargs)
        except MarkupError:
            return super().render_str(text, **{**kwargs, "markup": False})

    def status(self, status: Any, **kwargs: Any) -> Status:
        """As :meth:`Console.status`, with a string rendered by :meth:`render_str` (the spinner
        would parse it as markup itself)."""
        if isinstance(status, str):
            status = self.render_str(status)
        return super().status(status, **kwargs)


console = SafeConsole()
err_console = SafeConsole(stderr=True, soft_wrap=True)


def harden_streams() -> None:
    """Make stdout and stderr replace characters their encoding cannot write (a POSIX locale,
    undecodable file names) instead of raising; called once by the console entry point."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "") == "strict":
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream that cannot change (closed, or not text)
                continue


def fail(exc: McuforgeError) -> typer.Exit:
    """Print an error and its hint (as plain text: file names may look like markup); the caller
    raises the returned ``typer.Exit`` with the error's exit code."""
    err_console.print(f"[bold red]error:[/] {escape(safe_text(exc.message))}", highlight=False)
    if exc.hint:
        err_console.print(f"[yellow]hint:[/] {escape(safe_text(exc.hint))}", highlight=False)
    return typer.Exit(exc.exit_code)
