"""The one exception hierarchy of mcuforge.

Every error a user can cause is a :class:`McuforgeError` carrying a message (what went wrong, naming the
file, layer or field) and a hint (what to do next). Only the CLI turns these into exit codes.
"""

from __future__ import annotations


class McuforgeError(Exception):
    """Base class for every user-facing error."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class InputError(McuforgeError):
    """A model, data or option given by the user cannot be used."""

    exit_code = 2


class ModelFormatError(InputError):
    """A model file is corrupt, truncated, or not of the expected kind."""


class UnsupportedOpsError(InputError):
    """The model uses operators or layers mcuforge cannot compile."""


class BoardError(InputError):
    """A board definition is missing or invalid."""


class FitError(McuforgeError):
    """The model does not fit the board's memory."""

    exit_code = 3


class OutputError(McuforgeError):
    """The output location cannot be written."""

    exit_code = 4


class ToolError(McuforgeError):
    """An external tool (compiler, PlatformIO, emulator) failed or is missing."""

    exit_code = 5
