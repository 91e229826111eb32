"""The numerical reference of each numerics mode (:mod:`generator.numerics`): TFLite Micro for the
default (:mod:`generator.importer.reference_tflm`), the TFLite interpreter with its reference kernels
for ``tflite-ref``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from generator.errors import ModelFormatError
from generator.numerics import DEFAULT, Numerics


def _interpreter(model: bytes, preserve_all: bool = False) -> Any:
    from generator.importer.keras_import import quiet_native_output

    with quiet_native_output():
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        interp = Interpreter(
            model_content=model,
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
            experimental_preserve_all_tensors=preserve_all,
        )
        interp.allocate_tensors()
    except (RuntimeError, ValueError) as exc:  # the import checks should have refused it first
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ModelFormatError(f"the TFLite interpreter refuses the model: {first}",
                               "re-export the model with TFLiteConverter") from None
    return interp


def run_reference(model: bytes, inputs: list[npt.NDArray[Any]],
                  numerics: Numerics = DEFAULT) -> list[npt.NDArray[Any]]:
    """Run the model once on the reference of ``numerics`` and return its outputs."""
    if numerics is Numerics.TFLM:
        from generator.importer.reference_tflm import run_tflm

        return run_tflm(model, inputs)
    interp = _interpreter(model)
    for det, x in zip(interp.get_input_details(), inputs, strict=True):
        interp.set_tensor(det["index"], np.asarray(x, dtype=det["dtype"]).reshape(det["shape"]))
    interp.invoke()
    return [interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()]


def run_reference_all(model: bytes, inputs: list[npt.NDArray[Any]],
                      numerics: Numerics = DEFAULT) -> dict[int, npt.NDArray[Any]]:
    """Run once and return the tensors' values by tensor index (for layer-by-layer comparison):
    every operator output at least."""
    if numerics is Numerics.TFLM:
        from generator.importer.reference_tflm import run_tflm_all

        return run_tflm_all(model, inputs)
    interp = _interpreter(model, preserve_all=True)
    for det, x in zip(interp.get_input_details(), inputs, strict=True):
        interp.set_tensor(det["index"], np.asarray(x, dtype=det["dtype"]).reshape(det["shape"]))
    interp.invoke()
    out: dict[int, npt.NDArray[Any]] = {}
    for det in interp.get_tensor_details():
        try:
            out[det["index"]] = interp.get_tensor(det["index"]).copy()
        except ValueError:
            continue
    return out
