"""An int8 ``.tflite`` flatbuffer -> the IR (:class:`generator.ir.Graph`).

Field indices follow the TFLite schema (schema.fbs); the names and values of its enums (operator codes,
tensor types, options unions, activations) come from the schema's generated code
(:mod:`generator.importer.tflite_schema`). Unsupported operators and tensor types are all collected
and reported in one message, before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache

import numpy as np

from generator.errors import ModelFormatError, UnsupportedOpsError
from generator.importer import lstm, svdf
from generator.importer.dilate import fold_dilations
from generator.importer.exactness import FOLDED_ONLY, check_arity
from generator.importer.flatbuf import Table, root
from generator.importer.fold import fold_constants
from generator.importer.graph_check import check_graph
from generator.importer.problems import CORRUPT_HINT, Problem, Unsupported, operator_error
from generator.importer.tflite_schema import schema
from generator.ir import (
    Activation,
    ArgAttrs,
    BlockAttrs,
    ConcatAttrs,
    Conv2DAttrs,
    DepthwiseConv2DAttrs,
    DType,
    ElementwiseAttrs,
    ExpandDimsAttrs,
    FullyConnectedAttrs,
    GatherAttrs,
    Graph,
    LeakyReluAttrs,
    MeanAttrs,
    NoAttrs,
    Op,
    OpAttrs,
    OpKind,
    PackAttrs,
    PadAttrs,
    Padding,
    Pool2DAttrs,
    QuantParams,
    ReshapeAttrs,
    ResizeAttrs,
    SoftmaxAttrs,
    SplitAttrs,
    SqueezeAttrs,
    StridedSliceAttrs,
    Tensor,
    TransposeConvAttrs,
    UnpackAttrs,
)

READ_TYPES = (DType.FLOAT32, DType.INT32, DType.UINT8, DType.INT64, DType.BOOL, DType.INT16,
              DType.INT8)
"""The tensor types the IR holds (each the TensorType of the same name); the reader refuses others."""
COMPILED_ACTIVATIONS = (Activation.NONE, Activation.RELU, Activation.RELU_N1_TO_1, Activation.RELU6)
"""The fused activations the kernels apply (each the ActivationFunctionType of the same name)."""

# The BuiltinOptions union member each operator's options table must be (schema.fbs); operators whose
# options mcuforge does not read are absent.
OPTIONS_NAMES: dict[OpKind, str] = {
    OpKind.CONV_2D: "Conv2DOptions",
    OpKind.DEPTHWISE_CONV_2D: "DepthwiseConv2DOptions",
    OpKind.AVERAGE_POOL_2D: "Pool2DOptions",
    OpKind.MAX_POOL_2D: "Pool2DOptions",
    OpKind.FULLY_CONNECTED: "FullyConnectedOptions",
    OpKind.SOFTMAX: "SoftmaxOptions",
    OpKind.CONCATENATION: "ConcatenationOptions",
    OpKind.ADD: "AddOptions",
    OpKind.RESHAPE: "ReshapeOptions",
    OpKind.MUL: "MulOptions",
    OpKind.MEAN: "ReducerOptions",
    # elementwise and reductions family
    OpKind.LEAKY_RELU: "LeakyReluOptions",
    OpKind.SUB: "SubOptions",
    OpKind.L2_NORMALIZATION: "L2NormOptions",
    OpKind.SUM: "ReducerOptions",
    OpKind.REDUCE_MAX: "ReducerOptions",
    OpKind.REDUCE_MIN: "ReducerOptions",
    OpKind.ARG_MAX: "ArgMaxOptions",
    OpKind.ARG_MIN: "ArgMinOptions",
    # layout and data movement
    OpKind.SQUEEZE: "SqueezeOptions",
    OpKind.STRIDED_SLICE: "StridedSliceOptions",
    OpKind.PACK: "PackOptions",
    OpKind.GATHER: "GatherOptions",
    OpKind.TRANSPOSE: "TransposeOptions",
    OpKind.RESIZE_NEAREST_NEIGHBOR: "ResizeNearestNeighborOptions",
    OpKind.RESIZE_BILINEAR: "ResizeBilinearOptions",
    OpKind.TILE: "TileOptions",
    OpKind.REVERSE_V2: "ReverseV2Options",
    OpKind.SPLIT: "SplitOptions",
    OpKind.SPLIT_V: "SplitVOptions",
    OpKind.UNPACK: "UnpackOptions",
    OpKind.SLICE: "SliceOptions",
    OpKind.DEPTH_TO_SPACE: "DepthToSpaceOptions",
    OpKind.SPACE_TO_DEPTH: "SpaceToDepthOptions",
    OpKind.SPACE_TO_BATCH_ND: "SpaceToBatchNDOptions",
    OpKind.BATCH_TO_SPACE_ND: "BatchToSpaceNDOptions",
    # recurrent
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: "UnidirectionalSequenceLSTMOptions",
    # transposed convolution
    OpKind.TRANSPOSE_CONV: "TransposeConvOptions",
    OpKind.SVDF: "SVDFOptions",
}
MAX_LISTED = 20
"""Unsupported operators (and tensors) named one by one in the error; the rest are counted."""


@dataclass(frozen=True)
class Codes:
    """The schema's values for what mcuforge reads."""

    kinds: dict[int, OpKind]
    """BuiltinOperator code -> the operator, for each operator the engine compiles."""
    dtypes: dict[int, DType]
    options: dict[OpKind, tuple[int, str]]
    activations: dict[int, Activation]


@cache
def codes() -> Codes:
    s = schema()
    by_name = {name: code for code, name in s.tensor_types.items()}
    acts = {name: code for code, name in s.activations.items()}
    return Codes(
        kinds={s.operator_code(k.value): k for k in OpKind},
        dtypes={by_name[d.name]: d for d in READ_TYPES},
        options={k: (s.options_type(name), name) for k, name in OPTIONS_NAMES.items()},
        activations={acts[a.name]: a for a in COMPILED_ACTIVATIONS},
    )


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
    """The operator's name in schema.fbs (BuiltinOperator), or ``CUSTOM(name)``."""
    if custom:
        return f"CUSTOM({custom})"
    return schema().operators.get(code, f"BUILTIN_{code}")


def type_name(code: int) -> str:
    """The tensor type's name in schema.fbs (TensorType)."""
    return schema().tensor_types.get(code, f"type {code}")


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
    tables = sg.vector_tables(0)
    names = tuple(t.string(3) or f"tensor_{i}" for i, t in enumerate(tables))
    shapes = tuple(_shape(t, where, name) for t, name in zip(tables, names, strict=True))
    raws = [_raw_op(t, codes, len(tables), where) for t in sg.vector_tables(3)]
    _check_supported(raws, tables, names, where)
    buffers = model.vector_tables(4)
    tensors = tuple(_tensor(t, shape, name, buffers, data, where)
                    for t, shape, name in zip(tables, shapes, names, strict=True))
    _check_storage(sg, tensors, where, _state_tensors(raws))
    ops = tuple(_op(i, r, tensors, where) for i, r in enumerate(raws))
    graph = Graph(
        tensors=tensors,
        ops=ops,
        inputs=_indices(sg, 1, len(tensors), where),
        outputs=_indices(sg, 2, len(tensors), where),
        name=sg.string(4) or "model",
    )
    graph = fold_dilations(fold_constants(graph, where))
    check_graph(graph, where)
    return graph


def _foreign_ops(sg: Table, codes: list[tuple[int, str]]) -> str:
    """`` (the main graph runs WHILE, ...)`` for the unsupported operators of a graph, or ``""``."""
    names = []
    for t in sg.vector_tables(3):
        idx = t.scalar(0, t.buf.u32, 0)
        code, custom = codes[idx] if idx < len(codes) else (-1, "")
        name = op_name(code, custom)
        if (code not in _kinds() or custom) and name not in names:
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


def _kinds() -> dict[int, OpKind]:
    return codes().kinds


def _type_code(t: Table) -> int:
    return int(t.scalar(1, t.buf.i8, 0))


def _tensor(t: Table, shape: tuple[int, ...], name: str, buffers: list[Table], data: bytes,
            where: str) -> Tensor:
    dtype = codes().dtypes[_type_code(t)]
    quant = _quant(t.table(4), where, name)
    if quant is not None and len(shape) <= 1 and quant.axis != 0 and (
            len(quant.scale) == 1 or (shape and len(quant.scale) == shape[0])):
        # a vector (a per-channel bias) has one dimension to be quantised along, whatever
        # quantized_dimension says: TFLite Micro reads its scales by position (converters have
        # written the filter's dimension 3 there, as in TFLite Micro's person detection model)
        quant = replace(quant, axis=0)
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


def _state_tensors(raws: list[_RawOp]) -> dict[int, tuple[int, str]]:
    """The tensors in the state slots of LSTM and SVDF operators, each with how many operands
    (inputs or outputs of any operator) it is and the operator it belongs to."""
    s = schema()
    lstm_code = s.operator_code(OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM.value)
    svdf_code = s.operator_code(OpKind.SVDF.value)
    owners: dict[int, str] = {}
    for r in raws:
        if r.custom:
            continue
        if r.code == lstm_code:
            owners |= dict.fromkeys(lstm.state_slots(r.inputs), "LSTM")
        elif r.code == svdf_code:
            owners |= dict.fromkeys(svdf.state_slots(r.inputs), "SVDF")
    return {t: (sum(r.inputs.count(t) + r.outputs.count(t) for r in raws), owner)
            for t, owner in owners.items()}


def _check_storage(sg: Table, tensors: tuple[Tensor, ...], where: str,
                   states: dict[int, tuple[int, str]] | None = None) -> None:
    """Refuse variable (state) and sparse tensors: the IR holds dense constants and activations,
    and the ``states`` of LSTM and SVDF operators (variable tensors, each read by its one
    operator, which keeps them off the IR's operands)."""
    states = states or {}
    io = {int(v) for f in (1, 2) for v in sg.vector_scalars(f, "i")}
    for i, t in enumerate(sg.vector_tables(0)):
        variable = bool(t.scalar(5, t.buf.u8, 0))
        count, owner = states.get(i, (0, ""))
        if i in states and not variable:
            raise ModelFormatError(
                f"{where}: tensor '{tensors[i].name}' is an {owner} state but not a variable tensor "
                "(is_variable); TFLite Micro refuses such a model", CORRUPT_HINT)
        if i in states and count > 1:
            raise UnsupportedOpsError(
                f"{where}: {owner} state tensor '{tensors[i].name}' is {count} operands (it "
                f"must be one {owner}'s state and nothing else)",
                f"mcuforge keeps each {owner}'s state inside the operator; share no state tensors")
        if i in states and i in io:
            raise UnsupportedOpsError(
                f"{where}: {owner} state tensor '{tensors[i].name}' is a model input or output",
                f"mcuforge keeps each {owner}'s state inside the operator (reset every inference); "
                "export the model without state inputs or outputs")
        if variable and i not in states:
            raise UnsupportedOpsError(
                f"{where}: tensor '{tensors[i].name}' is a variable (state) tensor (is_variable)",
                "mcuforge compiles stateless feed-forward models (and the LSTM's and SVDF's own "
                "states)")
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


def _check_supported(raws: list[_RawOp], tables: list[Table], names: Sequence[str],
                     where: str) -> None:
    """One error naming every operator and every tensor type the engine does not compile; a type
    code the schema does not define is a malformed file."""
    for t, name in zip(tables, names, strict=True):
        if _type_code(t) not in schema().tensor_types:
            raise ModelFormatError(
                f"{where}: tensor '{name}' has type {_type_code(t)} (Tensor.type), which the TFLite "
                f"schema does not define (it defines 0..{max(schema().tensor_types)})",
                f"{CORRUPT_HINT} (or, if a newer TensorFlow wrote it, install that TensorFlow)")
    ops = [f"{op_name(r.code, r.custom)} (output tensor "
           f"'{names[r.outputs[0]] if r.outputs and r.outputs[0] >= 0 else '?'}')"
           for r in raws if r.code not in _kinds() or r.custom]
    types = [f"'{name}' ({type_name(_type_code(t))})" for t, name in zip(tables, names, strict=True)
             if _type_code(t) not in codes().dtypes]
    if not ops and not types:
        return
    parts, hints = [], []
    if ops:
        parts.append(f"{len(ops)} unsupported operator(s): " + _listing(ops))
        supported = ", ".join(sorted(k.value for k in _kinds().values() if k not in FOLDED_ONLY))
        hints.append(f"mcuforge compiles {supported}; replace or remove the other layers")
        unknown = sorted({r.code for r in raws if not r.custom and r.code not in schema().operators})
        if unknown:
            hints.append(f"BUILTIN_{unknown[0]} is an operator code the installed TensorFlow's "
                         "schema does not define (a newer TensorFlow wrote the file, or it is "
                         "corrupt)")
    if types:
        parts.append(f"{len(types)} tensor(s) of an unsupported type: " + _listing(types))
        hints.append("mcuforge reads tensors of type " +
                     ", ".join(d.name for d in READ_TYPES) +
                     "; quantize the model to full int8 (weights and activations)")
    raise UnsupportedOpsError(f"{where}: " + "; and ".join(parts), "; ".join(hints))


def _listing(items: list[str]) -> str:
    shown = "; ".join(items[:MAX_LISTED])
    return shown + (f"; and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


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
    return _Options(r.options, OPTIONS_NAMES[kind])


def _defined(names: dict[int, str]) -> str:
    return " and ".join(f"{v} ({n})" for v, n in sorted(names.items())) if len(names) <= 3 else \
        f"{min(names)}..{max(names)}"


def _padding(o: _Options, field: int) -> Padding:
    value = o.i8(field)
    names = schema().padding
    if value not in names:
        raise Problem(f"{o.name}.padding is {value}; TFLite defines {_defined(names)}")
    return Padding[names[value]]


def _act(o: _Options, field: int) -> Activation:
    value = o.i8(field)
    compiled = codes().activations
    if value in compiled:
        return compiled[value]
    names = schema().activations
    if value in names:
        raise Unsupported(
            f"has a fused {names[value]} activation "
            f"({o.name}.fused_activation_function {value}), which TFLite's int8 kernels ignore",
            "apply the activation as a layer of its own, or use ReLU/ReLU6")
    raise Problem(f"{o.name}.fused_activation_function is {value}; TFLite defines {_defined(names)}")


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
    formats = schema().weights_formats
    if weights_format in formats and formats[weights_format] != "DEFAULT":
        raise Unsupported(f"{o.name}.weights_format is {weights_format} ({formats[weights_format]})",
                          "convert with the default weights format")
    if weights_format not in formats:
        raise Problem(f"{o.name}.weights_format is {weights_format}; TFLite defines "
                      f"{_defined(formats)}")
    return FullyConnectedAttrs(_act(o, 0), o.flag(2))


def _pool(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, _kinds()[r.code])
    return Pool2DAttrs(_padding(o, 0), o.i32(2), o.i32(1), o.i32(4), o.i32(3), _act(o, 5))


def _eltwise(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    return ElementwiseAttrs(_act(_options(r, _kinds()[r.code]), 0))


def _concat(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, OpKind.CONCATENATION)
    rank = len(ts[r.outputs[0]].shape)
    axis = o.i32(0)
    return ConcatAttrs(axis + rank if axis < 0 else axis, _act(o, 1))


def _leaky_relu(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    alpha = _options(r, OpKind.LEAKY_RELU).f32(0)
    if not math.isfinite(alpha):
        raise Problem(f"LeakyReluOptions.alpha is {alpha:g}; TFLite needs a finite alpha")
    return LeakyReluAttrs(alpha)


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
    keep = _options(r, _kinds()[r.code]).flag(0)
    # TFLite resolves negative axes and ignores repeated ones (ResolveAxis)
    return MeanAttrs(tuple(sorted({a + rank if a < 0 else a for a in axes})), keep)


def _arg(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    rank = len(ts[r.inputs[0]].shape)
    axis = _const_ints(r, ts, 1)
    if axis is None or len(axis) != 1:
        raise Unsupported(f"its axis input '{ts[r.inputs[1]].name}' is not one constant",
                          "reduce over a fixed axis")
    return ArgAttrs(axis[0] + rank if axis[0] < 0 else axis[0])


def _reshape(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    """The output shape, and the shape the file asks for, from where TFLite takes it: a 1-D int32
    shape input, else ReshapeOptions.new_shape (``[0]`` meaning a scalar), else a scalar."""
    if len(r.inputs) > 1 and r.inputs[1] >= 0:
        s = ts[r.inputs[1]]
        if len(s.shape) == 1 and s.dtype is DType.INT32:
            if s.data is None:  # computed in the graph: constant folding may make it known
                return ReshapeAttrs(ts[r.outputs[0]].shape, None, f"shape input '{s.name}'")
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


def _squeeze(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    return SqueezeAttrs(_options(r, OpKind.SQUEEZE).ints(0) or ())


def _expand_dims(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    axis = _const_ints(r, ts, 1)
    if axis is None or len(axis) != 1:
        raise Unsupported(f"its axis input '{ts[r.inputs[1]].name}' is not one constant",
                          "expand a fixed axis")
    return ExpandDimsAttrs(axis[0])


def _strided_slice(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, OpKind.STRIDED_SLICE)
    return StridedSliceAttrs(o.i32(0), o.i32(1), o.i32(2), o.i32(3), o.i32(4), o.flag(5))


def _pack(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    return PackAttrs(_options(r, OpKind.PACK).i32(1))


def _gather(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, OpKind.GATHER)
    return GatherAttrs(o.i32(0), o.i32(1))


def _resize(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    kind = _kinds()[r.code]
    o = _options(r, kind)
    first = 2 if kind is OpKind.RESIZE_BILINEAR else 0  # new_height, new_width are deprecated
    a = ResizeAttrs(o.flag(first), o.flag(first + 1))
    if a.align_corners and a.half_pixel_centers:
        raise Problem(f"{o.name} sets both align_corners and half_pixel_centers; TFLite takes at "
                      "most one")
    return a


def _split(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    kind = _kinds()[r.code]
    return SplitAttrs(_options(r, kind).i32(0))


def _unpack(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, OpKind.UNPACK)
    return UnpackAttrs(o.i32(0), o.i32(1))


def _block(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    kind = _kinds()[r.code]
    o = _options(r, kind)
    size = o.i32(0)
    if size < 1:
        raise Problem(f"{o.name}.block_size is {size}; TFLite needs a block size >= 1")
    return BlockAttrs(size)
def _lstm(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    o = _options(r, OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM)
    return lstm.read_attrs(r.inputs, ts, o.i8(0), schema().activations, o.f32(1), o.f32(2),
                           o.flag(3), o.flag(4), o.flag(5))


def _tconv(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    """TransposeConvOptions: padding 0, stride_w 1, stride_h 2, fused_activation_function 3 (absent
    in older files: none; TFLite Micro applies it when present), quantized_bias_type 4 (an int32
    bias is the only int8 form either runtime takes, which exactness checks)."""
    o = _options(r, OpKind.TRANSPOSE_CONV)
    return TransposeConvAttrs(_padding(o, 0), o.i32(2), o.i32(1), _act(o, 3))


def _svdf(r: _RawOp, ts: tuple[Tensor, ...]) -> OpAttrs:
    """SVDFOptions: rank 0, fused_activation_function 1 (asymmetric_quantize_inputs 2 concerns the
    hybrid kernel only)."""
    o = _options(r, OpKind.SVDF)
    return svdf.read_attrs(r.inputs, ts, o.i32(0), o.i8(1), schema().activations)


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
    # elementwise and reductions family
    OpKind.RELU: _none,
    OpKind.RELU6: _none,
    OpKind.LEAKY_RELU: _leaky_relu,
    OpKind.ABS: _none,
    OpKind.TANH: _none,
    OpKind.HARD_SWISH: _none,
    OpKind.RSQRT: _none,
    OpKind.L2_NORMALIZATION: _eltwise,
    OpKind.LOG_SOFTMAX: _none,
    OpKind.SUB: _eltwise,
    OpKind.MAXIMUM: _none,
    OpKind.MINIMUM: _none,
    OpKind.PRELU: _none,
    OpKind.SQUARED_DIFFERENCE: _none,
    OpKind.SUM: _mean,
    OpKind.REDUCE_MAX: _mean,
    OpKind.REDUCE_MIN: _mean,
    OpKind.ARG_MAX: _arg,
    OpKind.ARG_MIN: _arg,
    # layout and data movement
    OpKind.SQUEEZE: _squeeze,
    OpKind.EXPAND_DIMS: _expand_dims,
    OpKind.SHAPE: _none,
    OpKind.STRIDED_SLICE: _strided_slice,
    OpKind.PACK: _pack,
    OpKind.GATHER: _gather,
    OpKind.TRANSPOSE: _none,
    OpKind.RESIZE_NEAREST_NEIGHBOR: _resize,
    OpKind.RESIZE_BILINEAR: _resize,
    OpKind.TILE: _none,
    OpKind.REVERSE_V2: _none,
    OpKind.SPLIT: _split,
    OpKind.SPLIT_V: _split,
    OpKind.UNPACK: _unpack,
    OpKind.SLICE: _none,
    OpKind.DEPTH_TO_SPACE: _block,
    OpKind.SPACE_TO_DEPTH: _block,
    OpKind.SPACE_TO_BATCH_ND: _none,
    OpKind.BATCH_TO_SPACE_ND: _none,
    # recurrent
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: _lstm,
    # transposed convolution
    OpKind.TRANSPOSE_CONV: _tconv,
    OpKind.SVDF: _svdf,
}


def _op(index: int, r: _RawOp, tensors: tuple[Tensor, ...], where: str) -> Op:
    """One operator of the IR; its operand counts, options table type and enum fields checked."""
    kind = _kinds()[r.code]
    name = tensors[r.outputs[0]].name if r.outputs and r.outputs[0] >= 0 else "?"
    try:
        check_arity(kind, r.inputs, r.outputs)
        expected = codes().options.get(kind)
        if expected and r.options is not None and r.options_type != expected[0]:
            raise Problem(f"its options table is of type {r.options_type} (builtin_options_type), "
                          f"{kind.value} takes {expected[0]} ({expected[1]})")
        attrs = _ATTRS[kind](r, tensors)
    except Problem as problem:
        raise operator_error(where, index, kind.value, name, problem) from None
    inputs = lstm.ir_inputs(r.inputs) if kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM else \
        svdf.ir_inputs(r.inputs) if kind is OpKind.SVDF else r.inputs
    return Op(kind=kind, inputs=inputs, outputs=r.outputs, attrs=attrs, name=name)
