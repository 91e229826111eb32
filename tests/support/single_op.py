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
    variable: bool = False
    """A variable (state) tensor (is_variable), such as SVDF's activation state: no model input."""


def single_op(op: str, inputs: list[T], outputs: list[T], options: Any = None,
              version: int = 2) -> bytes:
    """A .tflite holding one operator (``options``: a schema ``...OptionsT`` object or None)."""
    n = len(inputs)
    return ops_model([*inputs, *outputs],
                     [(op, list(range(n)), list(range(n, n + len(outputs))), options)],
                     version)


def ops_model(tensors: list[T], ops: list[tuple[str, list[int], list[int], Any]],
              version: int = 2) -> bytes:
    """A .tflite of several operators ``(name, input indices, output indices, options)`` over
    ``tensors``; the model inputs are the non-constant tensors no operator writes, its outputs those
    no operator reads."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    types = {
        "int8": S.TensorType.INT8,
        "int16": S.TensorType.INT16,
        "float32": S.TensorType.FLOAT32,
        "int32": S.TensorType.INT32,
        "int64": S.TensorType.INT64,
    }
    names = list(dict.fromkeys(op for op, *_ in ops))
    codes = []
    for name in names:
        code = S.OperatorCodeT()
        code.builtinCode = getattr(S.BuiltinOperator, name)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = version
        codes.append(code)
    model = S.ModelT()
    model.version = 3
    model.operatorCodes = codes
    model.buffers = [S.BufferT()]
    tts = []
    for i, t in enumerate(tensors):
        tt = S.TensorT()
        tt.shape, tt.type, tt.name = list(t.shape), types[t.dtype], f"t{i}".encode()
        buf = S.BufferT()
        if t.data is not None:
            buf.data = np.ascontiguousarray(t.data, dtype=t.dtype).tobytes()
        tt.buffer = len(model.buffers)
        tt.isVariable = t.variable
        model.buffers.append(buf)
        if t.scale is not None:
            tt.quantization = S.QuantizationParametersT()
            scales = list(t.scale) if isinstance(t.scale, tuple) else [t.scale]
            zps = list(t.zp) if isinstance(t.zp, tuple) else [t.zp] * len(scales)
            tt.quantization.scale, tt.quantization.zeroPoint = scales, zps
            tt.quantization.quantizedDimension = t.axis
        tts.append(tt)
    written = {o for _, _, outs, _ in ops for o in outs}
    read = {i for _, ins, _, _ in ops for i in ins}
    sub = S.SubGraphT()
    sub.tensors = tts
    sub.inputs = [i for i, t in enumerate(tensors)
                  if t.data is None and not t.variable and i not in written]
    sub.outputs = [i for i in range(len(tensors)) if i in written and i not in read]
    sub.operators = []
    for name, ins, outs, options in ops:
        oper = S.OperatorT()
        oper.opcodeIndex, oper.inputs, oper.outputs = names.index(name), list(ins), list(outs)
        if options is not None:
            oper.builtinOptionsType = getattr(S.BuiltinOptions, type(options).__name__[:-1])
            oper.builtinOptions = options
        sub.operators.append(oper)
    model.subgraphs = [sub]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def with_op_version(model: bytes, op: str, version: int) -> bytes:
    """``model`` with the operator code ``op`` at ``version``. The TFLite interpreter's reference
    resolver registers some kernels for fewer versions than the converter writes (int8 TILE is
    version 3, the reference TILE is registered for 1 and 2 and computes int8 alike): this lets it
    run such a model."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    m = S.ModelT.InitFromObj(S.Model.GetRootAsModel(model, 0))
    for code in m.operatorCodes:
        if code.builtinCode == getattr(S.BuiltinOperator, op):
            code.version = version
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
