"""Structural checks of a graph read from a file, before any later stage relies on it.

TFLite's interpreter checks every operator's operands when it prepares a model; mcuforge's planner and
code generator rely on the same facts (ranks, constant weights, matching channel counts, positive
strides, output shapes, finite scales, operators in dependency order). A corrupt or hand-edited file
that breaks one of them is reported here, naming the operator, instead of failing deep inside a later
stage. The types and quantisation the kernels need to be exact are checked next
(:mod:`generator.importer.exactness`), so everything that passes compiles to what TFLite computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from generator.codegen import qparams_ops as qo
from generator.codegen import qparams_tconv as qt
from generator.errors import InputError, ModelFormatError
from generator.importer import lstm, svdf
from generator.importer.exactness import check_operands, folded_only
from generator.importer.layout_check import check_moves, check_resize
from generator.importer.problems import CORRUPT_HINT, Problem, Unsupported, need, operator_error
from generator.ir import (
    ArgAttrs,
    ConcatAttrs,
    Conv2DAttrs,
    DepthwiseConv2DAttrs,
    DType,
    ExpandDimsAttrs,
    FullyConnectedAttrs,
    Graph,
    MeanAttrs,
    Op,
    OpKind,
    PadAttrs,
    Padding,
    Pool2DAttrs,
    ReshapeAttrs,
    SqueezeAttrs,
    Tensor,
    TransposeConvAttrs,
)
from generator.layout import MOVES

MAX_WINDOW = 2**15 - 1
"""Strides, dilations and window sizes beyond int16 are refused by TFLite's kernels too."""
MIN_SCALE = 2.0**-64
MAX_SCALE = 2.0**64
"""Quantisation scales outside this range cannot come from a converter (real ones are ~1e-9..1e3)."""

_ZERO_POINT_RANGE = {DType.INT8: (-128, 127), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767)}


def check_graph(g: Graph, where: str) -> None:
    """Raise ModelFormatError (UnsupportedOpsError for valid but unsupported forms, InputError for a
    float model) on a graph mcuforge cannot compile to exactly what TFLite computes."""
    _check_io(g, where)
    _check_tensors(g, where)
    check_full_int8(g, where)
    available = {i for i, t in enumerate(g.tensors) if t.is_const} | set(g.inputs)
    for i, op in enumerate(g.ops):
        try:
            _check_dataflow(g, op, available)
            _OPERAND_RULES[op.kind](g, op)
            check_operands(g, op)
        except Problem as problem:
            raise operator_error(where, i, op.kind.value, op.name, problem) from None
    _check_outputs_produced(g, available, where)


def check_full_int8(g: Graph, where: str) -> None:
    """Only QUANTIZE and DEQUANTIZE may touch float tensors (at the model's boundary), and the
    data-movement operators, which copy float values as they are (converters leave DEQUANTIZE ->
    SPLIT -> QUANTIZE islands in unrolled recurrent cells)."""
    float_ops = [
        op for op in g.ops
        if op.kind not in (OpKind.QUANTIZE, OpKind.DEQUANTIZE) and op.kind not in MOVES
        and any(g.tensors[t].dtype is DType.FLOAT32 for t in (*op.inputs, *op.outputs) if t >= 0)
    ]
    if float_ops:
        names = ", ".join(f"{op.kind.value} '{op.name}'" for op in float_ops[:5])
        raise InputError(
            f"{where}: is not a full-int8 model: {len(float_ops)} operator(s) compute in float ({names})",
            "quantize with a representative data set (mcuforge does this for Keras models: give the "
            ".keras file), or export with TFLITE_BUILTINS_INT8",
        )


# ---- the graph as a whole ---------------------------------------------------------------------------


def _check_io(g: Graph, where: str) -> None:
    if not g.ops:
        raise ModelFormatError(f"{where}: the model has no operators", CORRUPT_HINT)
    if not g.inputs or not g.outputs:
        raise ModelFormatError(f"{where}: the model declares no inputs or no outputs", CORRUPT_HINT)
    for tid in (*g.inputs, *g.outputs):
        if tid < 0:
            raise ModelFormatError(f"{where}: a model input or output refers to no tensor", CORRUPT_HINT)
    for tid in g.inputs:
        if g.tensors[tid].is_const:
            raise ModelFormatError(f"{where}: model input '{g.tensors[tid].name}' is a constant", CORRUPT_HINT)


def _check_dataflow(g: Graph, op: Op, available: set[int]) -> None:
    for tid in op.inputs:
        if tid >= 0 and tid not in available:
            raise Problem(f"reads tensor '{g.tensors[tid].name}' before any operator writes it")
    for tid in op.outputs:
        t = g.tensors[tid]
        need(not t.is_const, f"writes into the constant tensor '{t.name}'")
        need(tid not in available, f"writes tensor '{t.name}', which is already written or an input")
        available.add(tid)


def _check_outputs_produced(g: Graph, available: set[int], where: str) -> None:
    for tid in g.outputs:
        t = g.tensors[tid]
        if t.is_const or tid in g.inputs or tid not in available:
            raise ModelFormatError(f"{where}: model output '{t.name}' is not computed by any operator",
                                   CORRUPT_HINT)


def _used_tensors(g: Graph) -> Iterable[int]:
    used = {t for op in g.ops for t in (*op.inputs, *op.outputs) if t >= 0}
    return sorted(used | set(g.inputs) | set(g.outputs))


def _check_tensors(g: Graph, where: str) -> None:
    """Used tensors have sane shapes and quantisation; every tensor, used or not, has the
    quantisation layout TFLite's loader accepts (it refuses the whole model otherwise)."""
    checks = [(g.tensors[tid], _check_tensor) for tid in _used_tensors(g)]
    checks += [(t, _check_quant_layout) for t in g.tensors]
    for t, check in checks:
        try:
            check(t)
        except Problem as problem:
            raise ModelFormatError(f"{where}: tensor '{t.name}': {problem}", CORRUPT_HINT) from None


def _check_tensor(t: Tensor) -> None:
    need(all(d > 0 for d in t.shape), f"has an empty dimension in its shape {t.shape}")
    q = t.quant
    if q is None:
        return
    scales = np.asarray(q.scale, dtype=np.float64)
    need(bool(np.all((scales >= MIN_SCALE) & (scales <= MAX_SCALE))),
          f"has quantisation scale(s) outside {MIN_SCALE:g}..{MAX_SCALE:g} (zero, negative, NaN or "
          "absurd)")
    low, high = _ZERO_POINT_RANGE.get(t.dtype, (-(2**31), 2**31 - 1))
    need(all(low <= z <= high for z in q.zero_point),
          f"has a zero point outside {low}..{high} for {t.dtype.value}")
    _check_quant_layout(t)


def _check_quant_layout(t: Tensor) -> None:
    """quantized_dimension within the shape, and one scale or one per entry along it."""
    q = t.quant
    if q is None:
        return
    rank = len(t.shape)
    need(q.axis >= 0 and (rank == 0 or q.axis < rank),
          f"has quantization.quantized_dimension {q.axis}, outside its {rank} dimension(s)")
    if len(q.scale) > 1 and rank:
        need(t.shape[q.axis] == len(q.scale),
              f"has {len(q.scale)} per-channel scales along axis {q.axis} of shape {t.shape}")


# ---- operands of each operator kind -----------------------------------------------------------------


def _t(g: Graph, op: Op, pos: int, what: str) -> Tensor:
    need(len(op.inputs) > pos and op.inputs[pos] >= 0, f"has no {what} (input {pos})")
    return g.tensors[op.inputs[pos]]


def _out(g: Graph, op: Op) -> Tensor:
    return g.tensors[op.outputs[0]]


def _rank(t: Tensor, rank: int, what: str) -> None:
    need(len(t.shape) == rank, f"{what} '{t.name}' has shape {t.shape}, expected {rank} dimensions")


def _const(t: Tensor, what: str) -> None:
    need(t.is_const, f"{what} '{t.name}' is not a constant")


def _window_out(size: int, k: int, stride: int, dilation: int, padding: Padding) -> int:
    """TFLite's output size of a sliding window (ComputeOutSize)."""
    if padding is Padding.SAME:
        return (size + stride - 1) // stride
    return (size + stride - ((k - 1) * dilation + 1)) // stride


def _window(x: Tensor, y: Tensor, k: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int], padding: Padding) -> None:
    need(min(*stride, *dilation) >= 1, f"has stride {stride} and dilation {dilation} (must be >= 1)")
    need(min(k) >= 1, f"has a {k[0]}x{k[1]} window")
    need(max(*stride, *dilation, *k) <= MAX_WINDOW,
          f"has stride {stride}, dilation {dilation} and a {k[0]}x{k[1]} window (each at most "
          f"{MAX_WINDOW}, as in TFLite)")
    want = tuple(_window_out(x.shape[1 + i], k[i], stride[i], dilation[i], padding) for i in range(2))
    need(min(want) >= 1, f"a {k[0]}x{k[1]} window does not fit the input {x.shape}")
    need(y.shape[1:3] == want,
          f"output '{y.name}' is {y.shape[1]}x{y.shape[2]}, its input and window give {want[0]}x{want[1]}")


def _bias(g: Graph, op: Op, n_out: int) -> None:
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return
    b = g.tensors[op.inputs[2]]
    _const(b, "bias")
    need(b.size == n_out, f"bias '{b.name}' has {b.size} values for {n_out} outputs")


def _same_batch_one(x: Tensor, y: Tensor) -> None:
    _rank(x, 4, "input")
    _rank(y, 4, "output")
    if x.shape[0] != 1:
        raise Unsupported(f"input '{x.name}' {x.shape} is a batch of {x.shape[0]}",
                          "export the model with batch size 1")


def _conv(g: Graph, op: Op) -> None:
    a = op.attrs
    assert isinstance(a, Conv2DAttrs)
    x, w, y = _t(g, op, 0, "input"), _t(g, op, 1, "filter"), _out(g, op)
    _same_batch_one(x, y)
    _rank(w, 4, "filter")
    _const(w, "filter")
    if x.shape[3] != w.shape[3] and x.shape[3] % w.shape[3] == 0:
        raise Unsupported(
            f"is a grouped convolution ({x.shape[3]} input channels, filters of {w.shape[3]})",
            "use a plain Conv2D, or split the groups into separate layers")
    need(x.shape[3] == w.shape[3], f"filter '{w.name}' {w.shape} does not match input {x.shape}")
    need(y.shape[3] == w.shape[0], f"output '{y.name}' {y.shape} does not match filter {w.shape}")
    need(y.shape[0] == x.shape[0], f"output '{y.name}' {y.shape} has another batch than {x.shape}")
    _window(x, y, (w.shape[1], w.shape[2]), (a.stride_h, a.stride_w), (a.dilation_h, a.dilation_w),
            a.padding)
    _bias(g, op, w.shape[0])


def _dwconv(g: Graph, op: Op) -> None:
    a = op.attrs
    assert isinstance(a, DepthwiseConv2DAttrs)
    x, w, y = _t(g, op, 0, "input"), _t(g, op, 1, "filter"), _out(g, op)
    _same_batch_one(x, y)
    _rank(w, 4, "filter")
    _const(w, "filter")
    need(w.shape[0] == 1 and y.shape[3] == w.shape[3] and w.shape[3] % x.shape[3] == 0,
          f"filter '{w.name}' {w.shape}, input {x.shape} and output {y.shape} do not agree")
    need(y.shape[0] == x.shape[0], f"output '{y.name}' {y.shape} has another batch than {x.shape}")
    _window(x, y, (w.shape[1], w.shape[2]), (a.stride_h, a.stride_w), (a.dilation_h, a.dilation_w),
            a.padding)
    _bias(g, op, w.shape[3])


def _tconv(g: Graph, op: Op) -> None:
    """TRANSPOSE_CONV: a constant int32 output shape of 4 values equal to the output's, a constant
    [out_c, k_h, k_w, in_c] filter matching the input's and the output's channels, strides and
    window within TFLite's range, a bias of one value per output channel, and an input of the
    height and width a convolution of the output gives (the TFLite interpreter refuses any other;
    TFLite Micro does not check, its kernel drops what falls outside the output)."""
    a = op.attrs
    assert isinstance(a, TransposeConvAttrs)
    s, w, x, y = (_t(g, op, 0, "output shape"), _t(g, op, 1, "filter"), _t(g, op, 2, "input"),
                  _out(g, op))
    _same_batch_one(x, y)
    _const(s, "output shape")
    need(s.dtype is DType.INT32 and s.shape == (4,),
         f"output shape '{s.name}' is {s.dtype.value} of shape {s.shape}; TFLite takes 4 int32 values")
    assert s.data is not None
    want = tuple(int(v) for v in s.data)
    need(want == y.shape, f"output shape '{s.name}' says {list(want)}, output '{y.name}' is "
                          f"{list(y.shape)}; TFLite resizes the output to the former")
    _rank(w, 4, "filter")
    _const(w, "filter")
    need(x.shape[3] == w.shape[3], f"filter '{w.name}' {w.shape} does not match input {x.shape}")
    need(y.shape[3] == w.shape[0], f"output '{y.name}' {y.shape} does not match filter {w.shape}")
    stride, k = (a.stride_h, a.stride_w), (w.shape[1], w.shape[2])
    need(min(stride) >= 1, f"has stride {stride} (must be >= 1)")
    need(max(*stride, *k) <= MAX_WINDOW,
         f"has stride {stride} and a {k[0]}x{k[1]} filter (each at most {MAX_WINDOW}, as in TFLite)")
    want_in = tuple(qt.out_size(a.padding, y.shape[1 + i], k[i], stride[i]) for i in range(2))
    if x.shape[1:3] != want_in:
        raise Unsupported(
            f"input '{x.name}' is {x.shape[1]}x{x.shape[2]}; a {a.padding.name} convolution of the "
            f"output ({y.shape[1]}x{y.shape[2]}, {k[0]}x{k[1]} filter, stride {stride}) gives "
            f"{want_in[0]}x{want_in[1]}, which the TFLite interpreter requires",
            "export the layer with the output size Keras' Conv2DTranspose computes")
    if len(op.inputs) > 3 and op.inputs[3] >= 0:
        b = g.tensors[op.inputs[3]]
        _const(b, "bias")
        need(b.size == w.shape[0], f"bias '{b.name}' has {b.size} values for {w.shape[0]} outputs")


def _fc(g: Graph, op: Op) -> None:
    a = op.attrs
    assert isinstance(a, FullyConnectedAttrs)
    x, w, y = _t(g, op, 0, "input"), _t(g, op, 1, "weights"), _out(g, op)
    _rank(w, 2, "weights")
    _const(w, "weights")
    units, depth = w.shape
    need(x.size % depth == 0, f"input '{x.name}' {x.shape} is not a whole number of rows of {depth}")
    need(bool(y.shape) and y.shape[-1] == units and y.size == x.size // depth * units,
          f"output '{y.name}' {y.shape} does not match input {x.shape} and weights {w.shape}")
    if a.keep_num_dims:
        need(bool(x.shape) and x.shape[-1] == depth,
              f"keeps the dimensions of input '{x.name}' {x.shape}, whose last is not {depth}")
        want = (*x.shape[:-1], units)
    else:
        want = (x.size // depth, units)
    need(y.shape == want, f"output '{y.name}' is {y.shape}; TFLite writes {want} "
                           f"(FullyConnectedOptions.keep_num_dims {a.keep_num_dims})")
    _bias(g, op, units)


def _pool(g: Graph, op: Op) -> None:
    a = op.attrs
    assert isinstance(a, Pool2DAttrs)
    x, y = _t(g, op, 0, "input"), _out(g, op)
    _same_batch_one(x, y)
    need(y.shape[0] == x.shape[0] and y.shape[3] == x.shape[3],
          f"output '{y.name}' {y.shape} does not keep the batch and channels of {x.shape}")
    _window(x, y, (a.filter_h, a.filter_w), (a.stride_h, a.stride_w), (1, 1), a.padding)


def _eltwise(g: Graph, op: Op) -> None:
    need(len(op.inputs) == 2, f"has {len(op.inputs)} inputs, expected 2")
    x1, x2, y = _t(g, op, 0, "first input"), _t(g, op, 1, "second input"), _out(g, op)
    try:
        shape = tuple(np.broadcast_shapes(x1.shape, x2.shape))
    except ValueError:
        raise Problem(f"inputs {x1.shape} and {x2.shape} do not broadcast") from None
    need(y.shape == shape, f"output '{y.name}' {y.shape} is not the broadcast shape {shape}")
    for what, t in (("first input", x1), ("second input", x2)):
        if not _kernel_operand(t, y):
            raise Unsupported(
                f"{what} '{t.name}' {t.shape} is broadcast to {y.shape} in a way the kernel does "
                "not address", "only same-shape, per-pixel (last dimension 1), per-channel or scalar "
                "operands are supported")


def _kernel_operand(t: Tensor, y: Tensor) -> bool:
    """``t`` is an operand form the ADD/SUB/MUL kernels address against the output ``y``: the whole map,
    one value per pixel (same rank, last dimension 1), one value per channel, or one value."""
    if t.size == 1:
        return True
    aligned = (1,) * (len(y.shape) - len(t.shape)) + t.shape
    if aligned == y.shape:
        return True
    if len(t.shape) == len(y.shape) and t.shape[:-1] == y.shape[:-1] and t.shape[-1] == 1:
        return True
    return all(d == 1 for d in aligned[:-1]) and aligned[-1] == y.shape[-1]


def _prelu(g: Graph, op: Op) -> None:
    """PRELU: alpha broadcast against the input, the output the input's shape."""
    _eltwise(g, op)
    x, y = _t(g, op, 0, "input"), _out(g, op)
    if x.shape != y.shape:
        raise Unsupported(f"input '{x.name}' {x.shape} is broadcast to {y.shape} by alpha",
                          "give alpha at most the input's shape (keras PReLU does)")


def _concat(g: Graph, op: Op) -> None:
    a = op.attrs
    assert isinstance(a, ConcatAttrs)
    y = _out(g, op)
    need(0 <= a.axis < len(y.shape), f"axis {a.axis} is outside the output shape {y.shape}")
    need(all(t >= 0 for t in op.inputs), "has a missing input")
    xs = [g.tensors[t] for t in op.inputs]
    for x in xs:
        same = len(x.shape) == len(y.shape) and all(
            d == e for i, (d, e) in enumerate(zip(x.shape, y.shape, strict=True)) if i != a.axis)
        need(same, f"input '{x.name}' {x.shape} does not fit output {y.shape} along axis {a.axis}")
    total = sum(x.shape[a.axis] for x in xs)
    need(total == y.shape[a.axis], f"inputs add up to {total} along axis {a.axis}, the output has "
                                    f"{y.shape[a.axis]}")


def _same_shape(g: Graph, op: Op) -> None:
    x, y = _t(g, op, 0, "input"), _out(g, op)
    need(x.shape == y.shape, f"output '{y.name}' {y.shape} differs from input {x.shape}")
    need(bool(x.shape), f"input '{x.name}' is a scalar")


_F32, _I8, _U8, _I16, _I32 = DType.FLOAT32, DType.INT8, DType.UINT8, DType.INT16, DType.INT32
QUANTIZE_FORMS = frozenset({(_F32, _I8), (_I8, _I8), (_U8, _I8), (_I8, _U8)})
"""The (input, output) types of the QUANTIZE operators mcuforge compiles."""
TFLITE_QUANTIZE_FORMS = frozenset({
    (_F32, _U8), (_F32, _I16), (_U8, _U8), (_I16, _I8), (_I16, _I16), (_I16, _I32), (_I8, _I16),
    (_I8, _I32), (_I32, _I8), (_I32, _I16)})
"""Other forms TFLite or TFLite Micro run (quantize.cc): valid, but not compiled here."""
DEQUANTIZE_FORMS = frozenset({(_I8, _F32)})
TFLITE_DEQUANTIZE_FORMS = frozenset({(_U8, _F32), (_I16, _F32)})


def _conversion(x: Tensor, y: Tensor, ours: frozenset[tuple[DType, DType]],
                theirs: frozenset[tuple[DType, DType]]) -> None:
    """``x`` -> ``y`` is a conversion mcuforge compiles; else unsupported if TFLite runs it, or
    a malformed operator if not even TFLite does."""
    form = (x.dtype, y.dtype)
    if form in ours:
        return
    compiled = ", ".join(f"{a.value} to {b.value}" for a, b in sorted(
        ours, key=lambda f: (f[0].value, f[1].value)))
    message = f"converts {x.dtype.value} to {y.dtype.value} (mcuforge compiles {compiled})"
    if form in theirs:
        raise Unsupported(message, "quantize the model to int8, with int8 or uint8 inputs and "
                                   "outputs (TFLiteConverter inference_input_type / "
                                   "inference_output_type)")
    raise Problem(f"{message}; no TFLite kernel converts these types")


def _quantize(g: Graph, op: Op) -> None:
    _same_shape(g, op)
    _conversion(_t(g, op, 0, "input"), _out(g, op), QUANTIZE_FORMS, TFLITE_QUANTIZE_FORMS)


def _dequantize(g: Graph, op: Op) -> None:
    _same_shape(g, op)
    _conversion(_t(g, op, 0, "input"), _out(g, op), DEQUANTIZE_FORMS, TFLITE_DEQUANTIZE_FORMS)


def _mean(g: Graph, op: Op) -> None:
    a = op.attrs
    assert isinstance(a, MeanAttrs)
    x, y = _t(g, op, 0, "input"), _out(g, op)
    need(all(0 <= ax < len(x.shape) for ax in a.axes) and len(set(a.axes)) == len(a.axes),
          f"reduces axes {a.axes} of a {len(x.shape)}-D input")
    kept = math.prod(d for i, d in enumerate(x.shape) if i not in a.axes)
    need(y.size == kept, f"output '{y.name}' {y.shape} does not match the mean of {x.shape} over "
                          f"axes {a.axes}")
    want = tuple(1 if i in a.axes else d for i, d in enumerate(x.shape)) if a.keep_dims else \
        tuple(d for i, d in enumerate(x.shape) if i not in a.axes)
    need(y.shape == want, f"output '{y.name}' is {y.shape}; the reduction of {x.shape} over axes "
                           f"{a.axes} is {want} (ReducerOptions.keep_dims {a.keep_dims})")
    need(qo.reduce_geometry(x.shape, a.axes) is not None,
         f"reduces axes {a.axes} of {x.shape}, more alternations of kept and reduced dimensions "
         "than the kernel addresses")


def _arg(g: Graph, op: Op) -> None:
    """ARG_MAX, ARG_MIN: the output is the input without the reduced axis (TFLite keeps none)."""
    a = op.attrs
    assert isinstance(a, ArgAttrs)
    x, y = _t(g, op, 0, "input"), _out(g, op)
    need(bool(x.shape) and 0 <= a.axis < len(x.shape),
         f"reduces axis {a.axis} of a {len(x.shape)}-D input")
    _const(_t(g, op, 1, "axis"), "axis")
    want = tuple(d for i, d in enumerate(x.shape) if i != a.axis)
    need(y.shape == want, f"output '{y.name}' is {y.shape}; {op.kind.value} of {x.shape} over axis "
                           f"{a.axis} is {want}")


def _reshape(g: Graph, op: Op) -> None:
    x, y = _t(g, op, 0, "input"), _out(g, op)
    need(x.size == y.size, f"reshapes {x.shape} ({x.size} values) to {y.shape} ({y.size} values)")
    a = op.attrs
    if isinstance(a, ReshapeAttrs) and a.requested is None and a.source:
        raise Unsupported(f"its {a.source} is computed in the graph from an activation (a dynamic "
                          "shape)", "export the model with fixed shapes (batch 1)")
    if isinstance(a, ReshapeAttrs) and a.requested is not None:
        got = _resolve_shape(a.requested, x.size)
        need(got == y.shape, f"asks for shape {list(a.requested)} ({a.source}), which is "
                              f"{got if got is not None else 'impossible'} for input {x.shape}, "
                              f"but its output '{y.name}' is {y.shape}")


def _squeeze(g: Graph, op: Op) -> None:
    """TFLite's SQUEEZE: the listed dimensions (all of size 1), or every dimension of size 1, gone."""
    a = op.attrs
    assert isinstance(a, SqueezeAttrs)
    x, y = _t(g, op, 0, "input"), _out(g, op)
    rank = len(x.shape)
    need(all(-rank <= d < rank for d in a.axes), f"squeezes dimensions {list(a.axes)} of {x.shape}")
    axes = {d % rank for d in a.axes} if a.axes else {i for i, d in enumerate(x.shape) if d == 1}
    need(all(x.shape[d] == 1 for d in axes),
         f"squeezes dimensions {sorted(axes)} of {x.shape}, not all of size 1")
    want = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    need(y.shape == want, f"output '{y.name}' is {y.shape}; {x.shape} squeezed is {want}")


def _expand_dims(g: Graph, op: Op) -> None:
    """TFLite's EXPAND_DIMS: a dimension of size 1 inserted at ``axis`` (negative: rank + 1 + axis)."""
    a = op.attrs
    assert isinstance(a, ExpandDimsAttrs)
    x, y = _t(g, op, 0, "input"), _out(g, op)
    rank = len(x.shape)
    need(-rank - 1 <= a.axis <= rank, f"expands axis {a.axis} of {x.shape} (rank {rank})")
    at = a.axis + rank + 1 if a.axis < 0 else a.axis
    want = (*x.shape[:at], 1, *x.shape[at:])
    need(y.shape == want, f"output '{y.name}' is {y.shape}; {x.shape} expanded at {a.axis} is {want}")


def _resolve_shape(shape: tuple[int, ...], size: int) -> tuple[int, ...] | None:
    """TFLite's reshape of ``size`` values to ``shape`` (one -1 inferred); None if it cannot be."""
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        return None
    known = math.prod(d for d in shape if d != -1)
    if -1 not in shape:
        return shape if known == size else None
    if known == 0 or size % known:
        return None
    return tuple(size // known if d == -1 else d for d in shape)


def _pad(g: Graph, op: Op) -> None:
    a = op.attrs
    assert isinstance(a, PadAttrs)
    x, p, y = _t(g, op, 0, "input"), _t(g, op, 1, "paddings"), _out(g, op)
    _const(p, "paddings")
    need(p.shape == (len(x.shape), 2) and len(a.paddings) == len(x.shape),
          f"paddings '{p.name}' {p.shape} do not match the input {x.shape} (expected "
          f"{(len(x.shape), 2)})")
    need(all(b >= 0 and e >= 0 for b, e in a.paddings), f"has negative paddings {a.paddings}")
    want = tuple(d + b + e for d, (b, e) in zip(x.shape, a.paddings, strict=True))
    need(y.shape == want, f"output '{y.name}' {y.shape} is not the padded input {want}")
    if len(x.shape) != 4 or a.paddings[0] != (0, 0):
        raise Unsupported(f"pads {list(a.paddings)} on shape {x.shape}",
                          "mcuforge pads the height, width and channels of a 4-D map only")


_OPERAND_RULES: dict[OpKind, Callable[[Graph, Op], None]] = {
    OpKind.CONV_2D: _conv,
    OpKind.DEPTHWISE_CONV_2D: _dwconv,
    OpKind.FULLY_CONNECTED: _fc,
    OpKind.AVERAGE_POOL_2D: _pool,
    OpKind.MAX_POOL_2D: _pool,
    OpKind.ADD: _eltwise,
    OpKind.MUL: _eltwise,
    OpKind.CONCATENATION: _concat,
    OpKind.SOFTMAX: _same_shape,
    OpKind.LOGISTIC: _same_shape,
    # elementwise and reductions family
    OpKind.RELU: _same_shape,
    OpKind.RELU6: _same_shape,
    OpKind.LEAKY_RELU: _same_shape,
    OpKind.ABS: _same_shape,
    OpKind.TANH: _same_shape,
    OpKind.HARD_SWISH: _same_shape,
    OpKind.RSQRT: _same_shape,
    OpKind.L2_NORMALIZATION: _same_shape,
    OpKind.LOG_SOFTMAX: _same_shape,
    OpKind.SUB: _eltwise,
    OpKind.MAXIMUM: _eltwise,
    OpKind.MINIMUM: _eltwise,
    OpKind.PRELU: _prelu,
    OpKind.SQUARED_DIFFERENCE: _eltwise,
    OpKind.SUM: _mean,
    OpKind.REDUCE_MAX: _mean,
    OpKind.REDUCE_MIN: _mean,
    OpKind.ARG_MAX: _arg,
    OpKind.ARG_MIN: _arg,
    OpKind.QUANTIZE: _quantize,
    OpKind.DEQUANTIZE: _dequantize,
    OpKind.MEAN: _mean,
    OpKind.RESHAPE: _reshape,
    OpKind.PAD: _pad,
    # layout and data movement
    OpKind.SQUEEZE: _squeeze,
    OpKind.EXPAND_DIMS: _expand_dims,
    OpKind.SHAPE: folded_only,
    OpKind.STRIDED_SLICE: check_moves,
    OpKind.PACK: check_moves,
    OpKind.GATHER: check_moves,
    OpKind.TRANSPOSE: check_moves,
    OpKind.TILE: check_moves,
    OpKind.REVERSE_V2: check_moves,
    OpKind.SPLIT: check_moves,
    OpKind.SPLIT_V: check_moves,
    OpKind.UNPACK: check_moves,
    OpKind.SLICE: check_moves,
    OpKind.DEPTH_TO_SPACE: check_moves,
    OpKind.SPACE_TO_DEPTH: check_moves,
    OpKind.SPACE_TO_BATCH_ND: check_moves,
    OpKind.BATCH_TO_SPACE_ND: check_moves,
    OpKind.RESIZE_NEAREST_NEIGHBOR: check_resize,
    OpKind.RESIZE_BILINEAR: check_resize,
    # recurrent
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: lstm.check_shapes,
    # transposed convolution
    OpKind.TRANSPOSE_CONV: _tconv,
    OpKind.SVDF: svdf.check_shapes,
}
