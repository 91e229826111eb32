"""Single-operator ``.tflite`` files written directly with the TFLite schema, with chosen
quantisation: what the converter does not produce on demand (broadcast operands, chosen scales and
zero points, int8 -> int8 QUANTIZE ...). Used by the kernel tests and the real-model zoo tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class T:
    """A tensor of a single-operator model; ``data`` makes it a constant. ``scale`` and ``zp`` are
    one value, or one per channel along ``axis`` (quantized_dimension)."""

    shape: tuple[int, ...]
    dtype: str = "int8"
    scale: float | tuple[float, ...] | None = None
    zp: int | tuple[int, ...] = 0
    data: npt.NDArray[Any] | None = None
    axis: int = 0


def single_op(op: str, inputs: list[T], outputs: list[T], options: Any = None,
              version: int = 2) -> bytes:
    """A .tflite holding one operator (``options``: a schema ``...OptionsT`` object or None)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    types = {
        "int8": S.TensorType.INT8,
        "int16": S.TensorType.INT16,
        "float32": S.TensorType.FLOAT32,
        "int32": S.TensorType.INT32,
    }
    code = S.OperatorCodeT()
    code.builtinCode = getattr(S.BuiltinOperator, op)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = version
    model = S.ModelT()
    model.version = 3
    model.operatorCodes = [code]
    model.buffers = [S.BufferT()]
    tensors = []
    for i, t in enumerate([*inputs, *outputs]):
        tt = S.TensorT()
        tt.shape, tt.type, tt.name = list(t.shape), types[t.dtype], f"t{i}".encode()
        buf = S.BufferT()
        if t.data is not None:
            buf.data = np.ascontiguousarray(t.data, dtype=t.dtype).tobytes()
        tt.buffer = len(model.buffers)
        model.buffers.append(buf)
        if t.scale is not None:
            tt.quantization = S.QuantizationParametersT()
            scales = list(t.scale) if isinstance(t.scale, tuple) else [t.scale]
            zps = list(t.zp) if isinstance(t.zp, tuple) else [t.zp] * len(scales)
            tt.quantization.scale, tt.quantization.zeroPoint = scales, zps
            tt.quantization.quantizedDimension = t.axis
        tensors.append(tt)
    sub = S.SubGraphT()
    sub.tensors = tensors
    sub.inputs = [i for i, t in enumerate(inputs) if t.data is None]
    sub.outputs = list(range(len(inputs), len(inputs) + len(outputs)))
    oper = S.OperatorT()
    oper.opcodeIndex, oper.inputs, oper.outputs = 0, list(range(len(inputs))), sub.outputs
    if options is not None:
        oper.builtinOptionsType = getattr(S.BuiltinOptions, type(options).__name__[:-1])
        oper.builtinOptions = options
    sub.operators = [oper]
    model.subgraphs = [sub]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
