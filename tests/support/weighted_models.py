"""Single-operator CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED ``.tflite`` files with chosen
shapes and quantisation (per-channel int8 weights, int32 bias), written with the TFLite schema's
generated object API: what the fast-kernel tests feed to the compiler and to both interpreters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Tensor:
    shape: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...] | None = None
    zp: tuple[int, ...] | None = None
    axis: int = 0
    data: npt.NDArray[Any] | None = None


def write(op: str, inputs: list[Tensor], output: Tensor, options: Any) -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    types = {"int8": S.TensorType.INT8, "int32": S.TensorType.INT32}
    code = S.OperatorCodeT()
    code.builtinCode = getattr(S.BuiltinOperator, op)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = 3
    model = S.ModelT()
    model.version = 3
    model.operatorCodes = [code]
    model.buffers = [S.BufferT()]
    tensors = []
    for i, t in enumerate([*inputs, output]):
        tt = S.TensorT()
        tt.shape, tt.type, tt.name = list(t.shape), types[t.dtype], f"t{i}".encode()
        buf = S.BufferT()
        if t.data is not None:
            buf.data = np.ascontiguousarray(t.data, dtype=t.dtype).tobytes()
        tt.buffer = len(model.buffers)
        model.buffers.append(buf)
        if t.scale is not None:
            tt.quantization = S.QuantizationParametersT()
            tt.quantization.scale = list(t.scale)
            tt.quantization.zeroPoint = list(t.zp or (0,) * len(t.scale))
            tt.quantization.quantizedDimension = t.axis
        tensors.append(tt)
    sub = S.SubGraphT()
    sub.tensors = tensors
    sub.inputs = [0]
    sub.outputs = [len(inputs)]
    oper = S.OperatorT()
    oper.opcodeIndex, oper.inputs, oper.outputs = 0, list(range(len(inputs))), sub.outputs
    oper.builtinOptionsType = getattr(S.BuiltinOptions, type(options).__name__[:-1])
    oper.builtinOptions = options
    sub.operators = [oper]
    model.subgraphs = [sub]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
