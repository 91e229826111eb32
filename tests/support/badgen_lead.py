"""Keras models that carry Python code (corpus: expected_lead.yaml): loading one must never run it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.badgen import _keras_save

MARKER = "/tmp/mcuforge-lambda-ran"
"""A Lambda layer's code would create this file if mcuforge ever called it."""


def _lambda_model(keras: Any) -> Any:
    inp = keras.Input((8,))
    touch = f"__import__('os').system('touch {MARKER}')"
    x = keras.layers.Lambda(eval(f"lambda t: ({touch}, t)[1]"))(inp)
    return keras.Model(inp, keras.layers.Dense(4)(x))


def _saved_without_marker(make: Callable[[Path], object]) -> Callable[[Path], object]:
    """Saving a Lambda model calls it once, which runs its code: remove the marker afterwards."""

    def run(path: Path) -> None:
        make(path)
        Path(MARKER).unlink(missing_ok=True)

    return run


MAKERS: dict[str, Callable[[Path], object]] = {
    "lambda_code.keras": _saved_without_marker(_keras_save(_lambda_model)),
    "lambda_code.h5": _saved_without_marker(_keras_save(_lambda_model)),
}
MADE_WITH_TENSORFLOW = set(MAKERS)
