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
from generator.frontend.exactness import check_arity
from generator.frontend.flatbuf import Table, root
from generator.frontend.graph_check import check_graph
from generator.frontend.problems import Problem, Unsupported, operator_error
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
                3: Activation.RELU6}
_UNSUPPORTED_ACTIVATIONS = {4: "TANH", 5: "SIGN_BIT"}

# The BuiltinOptions union member each operator's options table must be (schema.fbs); operators whose
# options mcuforge does not read are absent.
OPTIONS_TYPES: dict[OpKind, tuple[int, str]] = {
    OpKind.CONV_2D: (1, "Conv2DOptions"),
    OpKind.DEPTHWISE_CONV_2D: (2, "DepthwiseConv2DOptions"),
    OpKind.AVERAGE_POOL_2D: (5, "Pool2DOptions"),
    OpKind.MAX_POOL_2D: (5, "Pool2DOptions"),
    OpKind.FULLY_CONNECTED: (8, "FullyConnectedOptions"),
    OpKind.SOFTMAX: (9, "SoftmaxOptions"),
    OpKind.CONCATENATION: (10, "ConcatenationOptions"),
    OpKind.ADD: (11, "AddOptions"),
    OpKind.RESHAPE: (17, "ReshapeOptions"),
    OpKind.MUL: (21, "MulOptions"),
    OpKind.MEAN: (27, "ReducerOptions"),
}

SCHEMA_VERSION = 3
MAX_ELEMENTS = 1 << 28  # no microcontroller tensor is anywhere near this
MAX_RANK = 8  # TFLite's kernels handle at most 6 dimensions


@dataclass(frozen=True)
class _RawOp:
    code: int
    custom: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Table | None
    options_type: int = 0


def op_name(code: int, custom: str) -> str:
    if custom:
        return f"CUSTOM({custom})"
    if code in BUILTIN_KINDS:
        return BUILTIN_KINDS[code].value
    return OTHER_BUILTIN_NAMES.get(code, f"BUILTIN_{code}")


def read_tflite(data: bytes, where: str = "model.tflite") -> Graph:
    """Parse a .tflite flatbuffer into the IR; raise on anything mcuforge cannot compile."""
    model = root(data, where, identifier=b"TFL3")
    version = model.scalar(0, model.buf.u32, 0)
    if version != SCHEMA_VERSION:
        raise ModelFormatError(f"{where}: schema version {version} (Model.version); TFLite reads "
                               f"version {SCHEMA_VERSION} only",
                               "re-export the model with a current TFLiteConverter")
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
    _check_storage(sg, tensors, where)
    ops = tuple(_op(i, r, tensors, where) for i, r in enumerate(raws))
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
    quant = _quant(t.table(4), where, name)
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


def _quant(q: Table | None, where: str, name: str) -> QuantParams | None:
    """A tensor's QuantizationParameters, refused where TFLite's loader refuses them."""
    if q is None:
        return None
    scales = tuple(float(v) for v in q.vector_scalars(2, "f"))
    zps = tuple(int(v) for v in q.vector_scalars(3, "q"))
    if not scales:
        return None
    if q.scalar(4, q.buf.u8, 0) != 0:
        raise UnsupportedOpsError(
            f"{where}: tensor '{name}' has custom quantization (quantization.details)",
            "mcuforge compiles affine int8 quantization (scale and zero point) only")
    if len(zps) != len(scales):
        raise ModelFormatError(
            f"{where}: tensor '{name}' has {len(scales)} quantization scale(s) and {len(zps)} "
            "zero point(s) (quantization.scale, quantization.zero_point); TFLite needs one zero point "
            "per scale", "the file is corrupt or was edited by hand; re-export it with TFLiteConverter")
    return QuantParams(scale=scales, zero_point=zps, axis=q.scalar(6, q.buf.i32, 0))


def _check_storage(sg: Table, tensors: tuple[Tensor, ...], where: str) -> None:
    """Refuse variable (state) and sparse tensors: the IR holds dense constants and activations."""
    for i, t in enumerate(sg.vector_tables(0)):
        if t.scalar(5, t.buf.u8, 0):
            raise UnsupportedOpsError(
                f"{where}: tensor '{tensors[i].name}' is a variable (state) tensor (is_variable)",
                "mcuforge compiles stateless feed-forward models")
        if t.has(6):
            raise UnsupportedOpsError(
                f"{where}: tensor '{tensors[i].name}' is stored sparse (sparsity)",
                "convert without sparsity (no tf.lite.Optimize.EXPERIMENTAL_SPARSITY)")


def _raw_op(t: Table, codes: list[tuple[int, str]], n_tensors: int, where: str) -> _RawOp:
    idx = t.scalar(0, t.buf.u32, 0)
    if idx >= len(codes):
        raise ModelFormatError(f"{where}: operator refers to missing opcode {idx}",
                               "the file is corrupt; re-export it")
    code, custom = codes[idx]
    return _RawOp(code, custom, _indices(t, 1, n_tensors, where), _indices(t, 2, n_tensors, where),
                  t.table(4), t.scalar(3, t.buf.u8, 0))


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


class _Options:
    """An operator's options table, each field read with the schema's default when it is absent (a
    missing table reads as all defaults, as TFLite's parser does)."""

    def __init__(self, table: Table | None, name: str) -> None:
        self.table = table
        self.name = name

    def i32(self, field: int, default: int = 0) -> int:
        t = self.table
        return default if t is None else t.scalar(field, t.buf.i32, default)

    def i8(self, field: int) -> int:
        t = self.table
        return 0 if t is None else t.scalar(field, t.buf.i8, 0)

    def flag(self, field: int) -> bool:
        t = self.table
        return False if t is None else bool(t.scalar(field, t.buf.u8, 0))

    def f32(self, field: int) -> float:
        t = self.table
        return 0.0 if t is None else t.scalar(field, t.buf.f32, 0.0)

    def ints(self, field: int) -> tuple[int, ...] | None:
        t = self.table
        if t is None or not t.has(field):
            return None
        return tuple(int(v) for v in t.vector_scalars(field, "i"))


def _options(r: _RawOp, kind: OpKind) -> _Options:
    return _Options(r.options, OPTIONS_TYPES[kind][1])


def _padding(o: _Options, field: int) -> Padding:
    value = o.i8(field)
    if value not in (0, 1):
        raise Problem(f"{o.name}.padding is {value}; TFLite defines 0 (SAME) and 1 (VALID)")
    return Padding.SAME if value == 0 else Padding.VALID


def _act(o: _Options, field: int) -> Activation:
    value = o.i8(field)
    if value in _UNSUPPORTED_ACTIVATIONS:
        raise Unsupported(
            f"has a fused {_UNSUPPORTED_ACTIVATIONS[value]} activation "
            f"({o.name}.fused_activation_function {value}), which TFLite's int8 kernels ignore",
            "apply the activation as a layer of its own, or use ReLU/ReLU6")
    if value not in _ACTIVATIONS:
        raise Problem(f"{o.name}.fused_activation_function is {value}; TFLite defines 0..5")
    return _ACTIVATIONS[value]


def _conv(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, OpKind.CONV_2D)
    return Conv2DAttrs(_padding(o, 0), o.i32(2), o.i32(1), o.i32(5, 1), o.i32(4, 1), _act(o, 3))


def _dwconv(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, OpKind.DEPTHWISE_CONV_2D)
    return DepthwiseConv2DAttrs(_padding(o, 0), o.i32(2), o.i32(1), o.i32(3), o.i32(6, 1),
                                o.i32(5, 1), _act(o, 4))


def _fc(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, OpKind.FULLY_CONNECTED)
    weights_format = o.i8(1)
    if weights_format == 1:
        raise Unsupported(f"{o.name}.weights_format is 1 (SHUFFLED4x16INT8)",
                          "convert with the default weights format")
    if weights_format != 0:
        raise Problem(f"{o.name}.weights_format is {weights_format}; TFLite defines 0 and 1")
    return FullyConnectedAttrs(_act(o, 0), o.flag(2))


def _pool(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, BUILTIN_KINDS[r.code])
    return Pool2DAttrs(_padding(o, 0), o.i32(2), o.i32(1), o.i32(4), o.i32(3), _act(o, 5))


def _eltwise(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    return ElementwiseAttrs(_act(_options(r, BUILTIN_KINDS[r.code]), 0))


def _concat(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, OpKind.CONCATENATION)
    rank = len(ts[r.outputs[0]].shape)
    axis = o.i32(0)
    return ConcatAttrs(axis + rank if axis < 0 else axis, _act(o, 1))


def _softmax(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, OpKind.SOFTMAX)
    beta = o.f32(0)
    if not (math.isfinite(beta) and beta > 0):
        raise Problem(f"{o.name}.beta is {beta:g} (an absent field or table means 0); TFLite needs "
                      "a finite beta > 0")
    return SoftmaxAttrs(beta)


def _const_ints(r: _RawOp, ts: tuple[Tensor, ...], pos: int) -> tuple[int, ...] | None:
    if len(r.inputs) <= pos or r.inputs[pos] < 0:
        return None
    data = ts[r.inputs[pos]].data
    return None if data is None else tuple(int(v) for v in data.reshape(-1))


def _mean(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    rank = len(ts[r.inputs[0]].shape)
    axes = _const_ints(r, ts, 1)
    if axes is None:
        raise Unsupported(f"its axes input '{ts[r.inputs[1]].name}' is not a constant",
                          "reduce over fixed axes (keras GlobalAveragePooling2D)")
    keep = _options(r, OpKind.MEAN).flag(0)
    return MeanAttrs(tuple(sorted(a + rank if a < 0 else a for a in axes)), keep)


def _reshape(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    """The output shape, and the shape the file asks for, from where TFLite takes it: a 1-D int32
    shape input, else ReshapeOptions.new_shape (``[0]`` meaning a scalar), else a scalar."""
    if len(r.inputs) > 1 and r.inputs[1] >= 0:
        s = ts[r.inputs[1]]
        if len(s.shape) == 1 and s.dtype is DType.INT32:
            if s.data is None:
                raise Unsupported(f"its shape input '{s.name}' is not a constant (a dynamic shape)",
                                  "export the model with fixed shapes (batch 1)")
            return ReshapeAttrs(ts[r.outputs[0]].shape, tuple(int(v) for v in s.data.reshape(-1)),
                                f"shape input '{s.name}'")
    new_shape = _options(r, OpKind.RESHAPE).ints(0)
    if new_shape is None:
        return ReshapeAttrs(ts[r.outputs[0]].shape, (), "no shape input and no new_shape")
    return ReshapeAttrs(ts[r.outputs[0]].shape, () if new_shape == (0,) else new_shape,
                        "ReshapeOptions.new_shape")


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


def _op(index: int, r: _RawOp, tensors: tuple[Tensor, ...], where: str) -> Op:
    """One operator of the IR; its operand counts, options table type and enum fields checked."""
    kind = BUILTIN_KINDS[r.code]
    name = tensors[r.outputs[0]].name if r.outputs and r.outputs[0] >= 0 else "?"
    try:
        check_arity(kind, r.inputs, r.outputs)
        expected = OPTIONS_TYPES.get(kind)
        if expected and r.options is not None and r.options_type != expected[0]:
            raise Problem(f"its options table is of type {r.options_type} (builtin_options_type), "
                          f"{kind.value} takes {expected[0]} ({expected[1]})")
        attrs = _ATTRS[kind](r, tensors)
    except Problem as problem:
        raise operator_error(where, index, kind.value, name, problem) from None
    return Op(kind=kind, inputs=r.inputs, outputs=r.outputs, attrs=attrs, name=name)
