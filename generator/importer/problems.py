"""One broken rule of an operator, and how it becomes the user's error.

The reader and the checks raise :class:`Problem` (a corrupt or hand-edited model: ModelFormatError) or
:class:`Unsupported` (a valid model mcuforge does not compile: UnsupportedOpsError) with the operator
left out; :func:`operator_error` adds the file, the operator's index, kind and output tensor name.
"""

from __future__ import annotations

from generator.errors import InputError, ModelFormatError, UnsupportedOpsError
from generator.ir import Tensor

CORRUPT_HINT = "the file is corrupt or was edited by hand; re-export it with TFLiteConverter"


class Problem(Exception):
    """A rule the operator breaks that no converter breaks (message: what is wrong, naming the field)."""

    def __init__(self, message: str, hint: str = CORRUPT_HINT) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Unsupported(Problem):
    """A valid form of the operator that the engine does not compute exactly, so it is refused."""


def need(ok: bool, problem: str, hint: str = CORRUPT_HINT) -> None:
    """Raise :class:`Problem` with ``problem`` unless ``ok``."""
    if not ok:
        raise Problem(problem, hint)


def operator_error(where: str, index: int, kind: str, name: str, problem: Problem) -> InputError:
    """``where: operator INDEX KIND 'NAME': problem`` as the error class the problem calls for."""
    message = f"{where}: operator {index} {kind} '{name}': {problem.message}"
    if isinstance(problem, Unsupported):
        return UnsupportedOpsError(message, problem.hint)
    return ModelFormatError(message, problem.hint)


def single_quant(t: Tensor, what: str, why: str, hint: str) -> tuple[float, int]:
    """The one scale and zero point of ``t`` (``what`` names it), refusing absent quantisation as
    malformed and several scales as unsupported (``why``, ``hint``: the operator's own words)."""
    q = t.quant
    need(q is not None, f"{what} '{t.name}' is {t.dtype.value} without quantization parameters")
    assert q is not None
    if len(q.scale) != 1:
        raise Unsupported(f"{what} '{t.name}' has {len(q.scale)} quantization scales; {why}", hint)
    return q.scale[0], q.zero_point[0]
