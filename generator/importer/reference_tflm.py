"""TFLite Micro's Python runtime (package ``tflite-micro``) as the numerical reference of the
default numerics (:mod:`generator.numerics`): its reference kernels, fixed-point FULLY_CONNECTED
included."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from generator.errors import ModelFormatError, ToolError

MIN_ARENA = 4 << 20
"""Bytes of tensor arena given to TFLite Micro: generous (at least 10x the model), so that a run
never fails for want of memory."""


def _interpreter(model: bytes, preserve_all: bool) -> Any:
    from generator.importer.keras_import import quiet_native_output

    try:
        with quiet_native_output():
            from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise ToolError("TFLite Micro's Python runtime is not installed",
                        "pip install tflite-micro (or compare with --numerics tflite-ref)") from None
    config = (runtime.InterpreterConfig.kPreserveAllTensors if preserve_all
              else runtime.InterpreterConfig.kAllocationRecording)
    try:
        return runtime.Interpreter.from_bytes(model, arena_size=max(MIN_ARENA, 10 * len(model)),
                                              intrepreter_config=config)
    except (RuntimeError, ValueError) as exc:  # the import checks should have refused it first
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ModelFormatError(f"TFLite Micro refuses the model: {first}",
                               "re-export the model with TFLiteConverter") from None


def _invoke(interp: Any, inputs: list[npt.NDArray[Any]]) -> None:
    for i, x in enumerate(inputs):
        det = interp.get_input_details(i)
        interp.set_input(np.asarray(x, dtype=det["dtype"]).reshape(det["shape"]), i)
    try:
        interp.invoke()
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ModelFormatError(f"TFLite Micro cannot run the model: {first}",
                               "re-export the model with TFLiteConverter") from None


def run_tflm(model: bytes, inputs: list[npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
    """Run the model once and return its outputs."""
    from generator.importer.tflite_reader import read_tflite

    n_out = len(read_tflite(model, where="model").outputs)
    interp = _interpreter(model, preserve_all=False)
    _invoke(interp, inputs)
    return [np.array(interp.get_output(i)) for i in range(n_out)]


def run_tflm_all(model: bytes, inputs: list[npt.NDArray[Any]]) -> dict[int, npt.NDArray[Any]]:
    """Run once with every tensor preserved; the value of each model input and operator output,
    by tensor index (only those: TFLite Micro has no value for a tensor it never allocated)."""
    from generator.importer.tflite_reader import read_tflite

    g = read_tflite(model, where="model")
    interp = _interpreter(model, preserve_all=True)
    _invoke(interp, inputs)
    tids = {*g.inputs, *(t for op in g.ops for t in op.outputs)}
    return {t: np.array(interp.GetTensor(t, 0)["tensor_data"]) for t in sorted(tids)}
