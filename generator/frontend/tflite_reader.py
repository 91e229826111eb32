"""An int8 ``.tflite`` flatbuffer -> the IR (:class:`generator.ir.Graph`).

Field indices follow the TFLite schema (schema.fbs). Unsupported operators are all collected and
reported at once, before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from generator.errors import ModelFormatError, UnsupportedOpsError
from generator.frontend.flatbuf import Table, root
from generator.frontend.graph_check import check_graph
from generator.ir import (
    Activation,
    ConcatAttrs,
    Conv2DAttrs,
    DepthwiseConv2DAttrs,
    DType,
    ElementwiseAttrs,
    FullyConnectedAttrs,
    Graph,
    MeanAttrs,
    NoAttrs,
    Op,
    OpAttrs,
    OpKind,
    PadAttrs,
    Padding,
    Pool2DAttrs,
    QuantParams,
    ReshapeAttrs,
    SoftmaxAttrs,
    Tensor,
)

# TFLite BuiltinOperator codes of the operators mcuforge compiles.
BUILTIN_KINDS: dict[int, OpKind] = {
    0: OpKind.ADD,
    1: OpKind.AVERAGE_POOL_2D,
    2: OpKind.CONCATENATION,
    3: OpKind.CONV_2D,
    4: OpKind.DEPTHWISE_CONV_2D,
    6: OpKind.DEQUANTIZE,
    9: OpKind.FULLY_CONNECTED,
    14: OpKind.LOGISTIC,
    17: OpKind.MAX_POOL_2D,
    18: OpKind.MUL,
    22: OpKind.RESHAPE,
    25: OpKind.SOFTMAX,
    34: OpKind.PAD,
    40: OpKind.MEAN,
    114: OpKind.QUANTIZE,
}

# Names of other common operators, for error messages.
OTHER_BUILTIN_NAMES: dict[int, str] = {
    5: "DEPTH_TO_SPACE", 7: "EMBEDDING_LOOKUP", 8: "FLOOR", 11: "L2_NORMALIZATION",
    12: "L2_POOL_2D", 13: "LOCAL_RESPONSE_NORMALIZATION", 16: "LSTM", 19: "RELU",
    20: "RELU_N1_TO_1", 21: "RELU6", 23: "RESIZE_BILINEAR", 24: "RNN", 26: "SPACE_TO_DEPTH",
    27: "SVDF", 28: "TANH", 32: "CUSTOM", 35: "UNIDIRECTIONAL_SEQUENCE_RNN", 36: "GATHER",
    37: "BATCH_TO_SPACE_ND", 38: "SPACE_TO_BATCH_ND", 39: "TRANSPOSE", 41: "SUB", 42: "DIV",
    43: "SQUEEZE", 44: "UNIDIRECTIONAL_SEQUENCE_LSTM", 45: "STRIDED_SLICE",
    46: "BIDIRECTIONAL_SEQUENCE_RNN", 47: "EXP", 49: "SPLIT", 53: "CAST", 54: "PRELU",
    55: "MAXIMUM", 57: "MINIMUM", 60: "PADV2", 65: "SLICE", 69: "TILE", 67: "TRANSPOSE_CONV", 74: "SUM",
    76: "RSQRT", 77: "SHAPE", 80: "REDUCE_MAX", 83: "PACK", 88: "UNPACK", 97: "RESIZE_NEAREST_NEIGHBOR",
    98: "LEAKY_RELU", 99: "SQUARED_DIFFERENCE", 102: "SPLIT_V", 117: "HARD_SWISH",
    118: "IF", 119: "WHILE", 126: "BATCH_MATMUL", 150: "GELU",
}

_DTYPES: dict[int, DType] = {
    0: DType.FLOAT32, 2: DType.INT32, 3: DType.UINT8, 4: DType.INT64, 6: DType.BOOL,
    7: DType.INT16, 9: DType.INT8,
}
_TYPE_NAMES = {1: "FLOAT16", 5: "STRING", 8: "COMPLEX64", 10: "FLOAT64", 11: "COMPLEX128",
               12: "UINT64", 13: "RESOURCE", 14: "VARIANT", 15: "UINT32", 16: "UINT16", 17: "INT4"}
_ACTIVATIONS = {0: Activation.NONE, 1: Activation.RELU, 2: Activation.RELU_N1_TO_1,
                3: Activation.RELU6, 4: Activation.TANH}

MAX_ELEMENTS = 1 << 28  # no microcontroller tensor is anywhere near this
MAX_RANK = 8  # TFLite's kernels handle at most 6 dimensions


@dataclass(frozen=True)
class _RawOp:
    code: int
    custom: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Table | None


def op_name(code: int, custom: str) -> str:
    if custom:
        return f"CUSTOM({custom})"
    if code in BUILTIN_KINDS:
        return BUILTIN_KINDS[code].value
    return OTHER_BUILTIN_NAMES.get(code, f"BUILTIN_{code}")


def read_tflite(data: bytes, where: str = "model.tflite") -> Graph:
    """Parse a .tflite flatbuffer into the IR; raise on anything mcuforge cannot compile."""
    model = root(data, where, identifier=b"TFL3")
    codes = [_op_code(t) for t in model.vector_tables(1)]
    subgraphs = model.vector_tables(2)
    if len(subgraphs) != 1:
        calls = _foreign_ops(subgraphs[0], codes) if subgraphs else ""
        raise UnsupportedOpsError(
            f"{where}: has {len(subgraphs)} subgraphs{calls}; mcuforge compiles single-graph models",
            "control flow (IF/WHILE, as recurrent layers become) and multi-signature models are not "
            "supported",
        )
    sg = subgraphs[0]
    buffers = model.vector_tables(4)
    tensors = tuple(_tensor(t, buffers, data, where, i) for i, t in enumerate(sg.vector_tables(0)))
    raws = [_raw_op(t, codes, len(tensors), where) for t in sg.vector_tables(3)]
    _check_supported(raws, tensors, where)
    ops = tuple(_op(r, tensors, where) for r in raws)
    graph = Graph(
        tensors=tensors,
        ops=ops,
        inputs=_indices(sg, 1, len(tensors), where),
        outputs=_indices(sg, 2, len(tensors), where),
        name=sg.string(4) or "model",
    )
    check_graph(graph, where)
    return graph


def _foreign_ops(sg: Table, codes: list[tuple[int, str]]) -> str:
    """`` (the main graph runs WHILE, ...)`` for the unsupported operators of a graph, or ``""``."""
    names = []
    for t in sg.vector_tables(3):
        idx = t.scalar(0, t.buf.u32, 0)
        code, custom = codes[idx] if idx < len(codes) else (-1, "")
        name = op_name(code, custom)
        if (code not in BUILTIN_KINDS or custom) and name not in names:
            names.append(name)
    return f" (the main graph runs {', '.join(names)})" if names else ""


def _indices(t: Table, field: int, n: int, where: str) -> tuple[int, ...]:
    idx = tuple(int(v) for v in t.vector_scalars(field, "i"))
    for v in idx:
        if v < -1 or v >= n:
            raise ModelFormatError(f"{where}: tensor index {v} out of range (0..{n - 1})",
                                   "the file is corrupt; re-export it")
    return idx


def _op_code(t: Table) -> tuple[int, str]:
    deprecated = t.scalar(0, t.buf.i8, 0)
    code = t.scalar(3, t.buf.i32, 0)
    return max(deprecated, code), t.string(1)


def _tensor(t: Table, buffers: list[Table], data: bytes, where: str, index: int) -> Tensor:
    name = t.string(3) or f"tensor_{index}"
    shape = _shape(t, where, name)
    code = t.scalar(1, t.buf.i8, 0)
    if code not in _DTYPES:
        raise UnsupportedOpsError(
            f"{where}: tensor '{name}' has type {_TYPE_NAMES.get(code, code)}, which is not supported",
            "quantize the model to full int8 (weights and activations)",
        )
    dtype = _DTYPES[code]
    quant = _quant(t.table(4))
    buffer_index = t.scalar(2, t.buf.u32, 0)
    const = _buffer_data(buffers, buffer_index, data, where, name)
    array = None
    if const is not None:
        expected = math.prod(shape) * dtype.itemsize
        if len(const) != expected:
            raise ModelFormatError(
                f"{where}: tensor '{name}' holds {len(const)} bytes, its shape {shape} needs {expected}",
                "the file is corrupt; re-export it",
            )
        array = np.frombuffer(const, dtype=np.dtype(dtype.value).newbyteorder("<")).reshape(shape)
        array = array.astype(np.dtype(dtype.value))
        array.setflags(write=False)
    return Tensor(name=name, shape=shape, dtype=dtype, quant=quant, data=array)


def _shape(t: Table, where: str, name: str) -> tuple[int, ...]:
    rank = t.vector_len(0)
    if rank > MAX_RANK:
        raise ModelFormatError(f"{where}: tensor '{name}' has {rank} dimensions (at most {MAX_RANK})",
                               "the file is corrupt; re-export it")
    shape = tuple(int(v) for v in t.vector_scalars(0, "i"))
    if any(d < 0 for d in shape):
        raise ModelFormatError(
            f"{where}: tensor '{name}' has a dynamic or negative shape {shape}",
            "export the model with a fixed input shape (batch 1)",
        )
    elements = math.prod(shape)
    if elements > MAX_ELEMENTS:
        raise ModelFormatError(
            f"{where}: tensor '{name}' has an absurd shape {shape} ({elements:,} elements, "
            f"at most {MAX_ELEMENTS:,})",
            "microcontroller models have tensors of at most a few MB; the file may be corrupt",
        )
    return shape


def _buffer_data(
    buffers: list[Table], index: int, data: bytes, where: str, name: str
) -> bytes | None:
    if index == 0:
        return None
    if index >= len(buffers):
        raise ModelFormatError(f"{where}: tensor '{name}' refers to missing buffer {index}",
                               "the file is corrupt; re-export it")
    b = buffers[index]
    raw = b.vector_bytes(0, 1)
    if len(raw):
        return bytes(raw)
    offset, size = b.scalar(1, b.buf.u64, 0), b.scalar(2, b.buf.u64, 0)
    if offset > 1 and size:
        return bytes(b.buf.span(offset, size))
    return None


def _quant(q: Table | None) -> QuantParams | None:
    if q is None:
        return None
    scales = tuple(float(v) for v in q.vector_scalars(2, "f"))
    zps = tuple(int(v) for v in q.vector_scalars(3, "q"))
    if not scales:
        return None
    if len(zps) != len(scales):
        zps = (zps[0] if zps else 0,) * len(scales)
    return QuantParams(scale=scales, zero_point=zps, axis=q.scalar(6, q.buf.i32, 0))


def _raw_op(t: Table, codes: list[tuple[int, str]], n_tensors: int, where: str) -> _RawOp:
    idx = t.scalar(0, t.buf.u32, 0)
    if idx >= len(codes):
        raise ModelFormatError(f"{where}: operator refers to missing opcode {idx}",
                               "the file is corrupt; re-export it")
    code, custom = codes[idx]
    return _RawOp(code, custom, _indices(t, 1, n_tensors, where), _indices(t, 2, n_tensors, where),
                  t.table(4))


def _check_supported(raws: list[_RawOp], tensors: tuple[Tensor, ...], where: str) -> None:
    bad = []
    for r in raws:
        if r.code not in BUILTIN_KINDS or r.custom:
            out = tensors[r.outputs[0]].name if r.outputs and r.outputs[0] >= 0 else "?"
            bad.append(f"{op_name(r.code, r.custom)} (output tensor '{out}')")
    if bad:
        supported = ", ".join(sorted(k.value for k in BUILTIN_KINDS.values()))
        raise UnsupportedOpsError(
            f"{where}: {len(bad)} unsupported operator(s): " + "; ".join(bad),
            f"mcuforge compiles {supported}; replace or remove the other layers",
        )


# ---- options ---------------------------------------------------------------------------------------


def _padding(t: Table, field: int) -> Padding:
    return Padding.VALID if t.scalar(field, t.buf.i8, 0) == 1 else Padding.SAME


def _act(t: Table, field: int) -> Activation:
    return _ACTIVATIONS.get(t.scalar(field, t.buf.i8, 0), Activation.NONE)


def _conv(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    t = r.options
    if t is None:
        return Conv2DAttrs(Padding.SAME, 1, 1)
    i32 = t.buf.i32
    return Conv2DAttrs(_padding(t, 0), t.scalar(2, i32, 1), t.scalar(1, i32, 1),
                       t.scalar(5, i32, 1), t.scalar(4, i32, 1), _act(t, 3))


def _dwconv(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    t = r.options
    if t is None:
        return DepthwiseConv2DAttrs(Padding.SAME, 1, 1)
    i32 = t.buf.i32
    return DepthwiseConv2DAttrs(_padding(t, 0), t.scalar(2, i32, 1), t.scalar(1, i32, 1),
                                t.scalar(3, i32, 1), t.scalar(6, i32, 1), t.scalar(5, i32, 1),
                                _act(t, 4))


def _fc(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    t = r.options
    if t is None:
        return FullyConnectedAttrs()
    return FullyConnectedAttrs(_act(t, 0), bool(t.scalar(2, t.buf.u8, 0)))


def _pool(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    t = r.options
    if t is None:
        return Pool2DAttrs(Padding.VALID, 1, 1, 1, 1)
    i32 = t.buf.i32
    return Pool2DAttrs(_padding(t, 0), t.scalar(2, i32, 1), t.scalar(1, i32, 1),
                       t.scalar(4, i32, 1), t.scalar(3, i32, 1), _act(t, 5))


def _eltwise(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    return ElementwiseAttrs(_act(r.options, 0)) if r.options else ElementwiseAttrs()


def _concat(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    t = r.options
    rank = len(ts[r.outputs[0]].shape)
    axis = t.scalar(0, t.buf.i32, 0) if t else 0
    return ConcatAttrs(axis + rank if axis < 0 else axis, _act(t, 1) if t else Activation.NONE)


def _softmax(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    return SoftmaxAttrs(r.options.scalar(0, r.options.buf.f32, 1.0) if r.options else 1.0)


def _const_ints(r: _RawOp, ts: tuple[Tensor, ...], pos: int) -> tuple[int, ...] | None:
    if len(r.inputs) <= pos or r.inputs[pos] < 0:
        return None
    data = ts[r.inputs[pos]].data
    return None if data is None else tuple(int(v) for v in data.reshape(-1))


def _mean(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    rank = len(ts[r.inputs[0]].shape)
    axes = _const_ints(r, ts, 1) or ()
    keep = bool(r.options.scalar(0, r.options.buf.u8, 0)) if r.options else False
    return MeanAttrs(tuple(sorted(a + rank if a < 0 else a for a in axes)), keep)


def _reshape(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    return ReshapeAttrs(ts[r.outputs[0]].shape)


def _pad(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    flat = _const_ints(r, ts, 1) or ()
    return PadAttrs(tuple(zip(flat[0::2], flat[1::2], strict=False)))


def _none(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    return NoAttrs()


_ATTRS: dict[OpKind, Callable[[_RawOp, tuple[Tensor, ...]], OpAttrs]] = {
    OpKind.CONV_2D: _conv,
    OpKind.DEPTHWISE_CONV_2D: _dwconv,
    OpKind.FULLY_CONNECTED: _fc,
    OpKind.AVERAGE_POOL_2D: _pool,
    OpKind.MAX_POOL_2D: _pool,
    OpKind.ADD: _eltwise,
    OpKind.MUL: _eltwise,
    OpKind.CONCATENATION: _concat,
    OpKind.SOFTMAX: _softmax,
    OpKind.MEAN: _mean,
    OpKind.RESHAPE: _reshape,
    OpKind.PAD: _pad,
    OpKind.LOGISTIC: _none,
    OpKind.QUANTIZE: _none,
    OpKind.DEQUANTIZE: _none,
}


def _op(r: _RawOp, tensors: tuple[Tensor, ...], where: str) -> Op:
    kind = BUILTIN_KINDS[r.code]
    if not r.outputs or not r.inputs or r.inputs[0] < 0 or min(r.outputs) < 0:
        raise ModelFormatError(f"{where}: a {kind.value} operator has no input or output",
                               "the file is corrupt; re-export it")
    name = tensors[r.outputs[0]].name
    return Op(kind=kind, inputs=r.inputs, outputs=r.outputs, attrs=_ATTRS[kind](r, tensors), name=name)
