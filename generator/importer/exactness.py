"""What the engine's int8 kernels assume about each operator's operands, checked at import.

The generated C is bit-exact with TFLite's reference kernels only for the operands those kernels take:
int8 activations quantised per tensor (uint8 only into and out of QUANTIZE), symmetric int8 weights
(zero point 0) quantised per tensor or per output channel along the dimension TFLite uses, int32
biases, unchanged quantisation through the operators that only move values, and the fixed output
quantisation of SOFTMAX and LOGISTIC. A model that breaks one of these is refused here, naming the
operand and the field, instead of compiling to something that computes a different function.

Each rule raises :class:`~generator.importer.problems.Problem` (or :class:`Unsupported`); the caller adds
the file and the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from generator.codegen import qparams_eltwise as qe
from generator.codegen import qparams_ops as qo
from generator.codegen import qparams_unary as qu
from generator.codegen.qparams import quantize_multiplier
from generator.errors import InputError
from generator.importer import lstm, svdf
from generator.importer.problems import Problem, Unsupported, need
from generator.ir import (
    DATA_INPUT,
    MULTI_OUTPUT,
    Activation,
    ConcatAttrs,
    DType,
    ElementwiseAttrs,
    Graph,
    MeanAttrs,
    Op,
    OpKind,
    Pool2DAttrs,
    SoftmaxAttrs,
    Tensor,
)

PROB_SCALE = 1.0 / 256.0
PROB_ZERO_POINT = -128
"""The output quantisation TFLite fixes for int8 SOFTMAX and LOGISTIC."""
SOFTMAX_SCALE_TOLERANCE = 1e-9
"""How far a SOFTMAX output scale may be from 1/256 (the lowering's own tolerance)."""
MAX_SOFTMAX_DEPTH = 512
"""SOFTMAX rows this long can overflow TFLite's int8 kernel (the lowering refuses them too)."""
FC_BIAS_SCALE_TOLERANCE = 0.02
"""TFLite's bound on |input scale * weight scale - bias scale| / output scale of a FULLY_CONNECTED
with per-tensor weights (GetQuantizedConvolutionMultipler)."""

_NO_OPTIONAL: frozenset[int] = frozenset()
_LSTM_OPTIONAL = lstm.OPTIONAL
_ARITY: dict[OpKind, tuple[int, int, frozenset[int]]] = {
    OpKind.CONV_2D: (2, 3, frozenset({2})),
    OpKind.DEPTHWISE_CONV_2D: (2, 3, frozenset({2})),
    OpKind.FULLY_CONNECTED: (2, 3, frozenset({2})),
    OpKind.AVERAGE_POOL_2D: (1, 1, _NO_OPTIONAL),
    OpKind.MAX_POOL_2D: (1, 1, _NO_OPTIONAL),
    OpKind.ADD: (2, 2, _NO_OPTIONAL),
    OpKind.MUL: (2, 2, _NO_OPTIONAL),
    OpKind.CONCATENATION: (1, 1 << 16, _NO_OPTIONAL),
    OpKind.SOFTMAX: (1, 1, _NO_OPTIONAL),
    OpKind.LOGISTIC: (1, 1, _NO_OPTIONAL),
    OpKind.QUANTIZE: (1, 1, _NO_OPTIONAL),
    OpKind.DEQUANTIZE: (1, 1, _NO_OPTIONAL),
    OpKind.MEAN: (2, 2, _NO_OPTIONAL),
    OpKind.RESHAPE: (1, 2, frozenset({1})),
    OpKind.PAD: (2, 2, _NO_OPTIONAL),
    # elementwise and reductions family
    OpKind.RELU: (1, 1, _NO_OPTIONAL),
    OpKind.RELU6: (1, 1, _NO_OPTIONAL),
    OpKind.LEAKY_RELU: (1, 1, _NO_OPTIONAL),
    OpKind.ABS: (1, 1, _NO_OPTIONAL),
    OpKind.TANH: (1, 1, _NO_OPTIONAL),
    OpKind.HARD_SWISH: (1, 1, _NO_OPTIONAL),
    OpKind.RSQRT: (1, 1, _NO_OPTIONAL),
    OpKind.L2_NORMALIZATION: (1, 1, _NO_OPTIONAL),
    OpKind.LOG_SOFTMAX: (1, 1, _NO_OPTIONAL),
    OpKind.SUB: (2, 2, _NO_OPTIONAL),
    OpKind.MAXIMUM: (2, 2, _NO_OPTIONAL),
    OpKind.MINIMUM: (2, 2, _NO_OPTIONAL),
    OpKind.PRELU: (2, 2, _NO_OPTIONAL),
    OpKind.SQUARED_DIFFERENCE: (2, 2, _NO_OPTIONAL),
    OpKind.SUM: (2, 2, _NO_OPTIONAL),
    OpKind.REDUCE_MAX: (2, 2, _NO_OPTIONAL),
    OpKind.REDUCE_MIN: (2, 2, _NO_OPTIONAL),
    OpKind.ARG_MAX: (2, 2, _NO_OPTIONAL),
    OpKind.ARG_MIN: (2, 2, _NO_OPTIONAL),
    # layout and data movement
    OpKind.SQUEEZE: (1, 1, _NO_OPTIONAL),
    OpKind.EXPAND_DIMS: (2, 2, _NO_OPTIONAL),
    OpKind.SHAPE: (1, 1, _NO_OPTIONAL),
    OpKind.STRIDED_SLICE: (4, 4, _NO_OPTIONAL),
    OpKind.PACK: (1, 1 << 16, _NO_OPTIONAL),
    OpKind.GATHER: (2, 2, _NO_OPTIONAL),
    OpKind.TRANSPOSE: (2, 2, _NO_OPTIONAL),
    OpKind.RESIZE_NEAREST_NEIGHBOR: (2, 2, _NO_OPTIONAL),
    OpKind.RESIZE_BILINEAR: (2, 2, _NO_OPTIONAL),
    OpKind.TILE: (2, 2, _NO_OPTIONAL),
    OpKind.REVERSE_V2: (2, 2, _NO_OPTIONAL),
    OpKind.SPLIT: (2, 2, _NO_OPTIONAL),
    OpKind.SPLIT_V: (3, 3, _NO_OPTIONAL),
    OpKind.UNPACK: (1, 1, _NO_OPTIONAL),
    OpKind.SLICE: (3, 3, _NO_OPTIONAL),
    OpKind.DEPTH_TO_SPACE: (1, 1, _NO_OPTIONAL),
    OpKind.SPACE_TO_DEPTH: (1, 1, _NO_OPTIONAL),
    OpKind.SPACE_TO_BATCH_ND: (3, 3, _NO_OPTIONAL),
    OpKind.BATCH_TO_SPACE_ND: (3, 3, _NO_OPTIONAL),
    # recurrent: the state slots 18 and 19 are absent in the IR (read_attrs checks the variants)
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: (24, 24, frozenset({*_LSTM_OPTIONAL, 18, 19})),
    # transposed convolution: output shape, filter, input and an optional bias
    OpKind.TRANSPOSE_CONV: (3, 4, frozenset({3})),
    # SVDF: the state slot 4 is absent in the IR (read_attrs refuses an absent bias or state)
    OpKind.SVDF: (5, 5, frozenset({3, 4})),
}
"""Per operator: fewest and most inputs, and the positions that may be absent (-1)."""
MAX_OUTPUTS = 1 << 16
"""Outputs of one SPLIT, SPLIT_V or UNPACK at most (the others have exactly one)."""


def check_arity(kind: OpKind, inputs: Sequence[int], outputs: Sequence[int]) -> None:
    """The operator has as many inputs and outputs as TFLite's kernel takes, none missing."""
    low, high, optional = _ARITY[kind]
    counts = str(low) if low == high else f"{low} to {high}" if high < 1 << 16 else f"{low} or more"
    need(low <= len(inputs) <= high, f"has {len(inputs)} inputs; {kind.value} takes {counts}")
    for pos, tid in enumerate(inputs):
        need(tid >= 0 or pos in optional, f"input {pos} is absent (-1); {kind.value} needs it")
    if kind in MULTI_OUTPUT:
        need(1 <= len(outputs) <= MAX_OUTPUTS,
             f"has {len(outputs)} outputs; {kind.value} has 1 to {MAX_OUTPUTS}")
    else:
        need(len(outputs) == 1, f"has {len(outputs)} outputs; {kind.value} has exactly 1")
    need(all(t >= 0 for t in outputs), "an output is absent (-1)")


_CONSTANT_DATA_KINDS = frozenset({OpKind.ADD, OpKind.SUB, OpKind.MUL, OpKind.CONCATENATION,
                                  OpKind.MAXIMUM, OpKind.MINIMUM, OpKind.SQUARED_DIFFERENCE,
                                  OpKind.PACK})
"""Operators whose kernels read a constant data operand from flash; the others read input 0 from the
arena, where a constant never is."""


def check_operands(g: Graph, op: Op) -> None:
    """Types and quantisation of the operator's operands are those its kernel computes exactly."""
    if op.kind not in _CONSTANT_DATA_KINDS:
        x = _input(g, op, DATA_INPUT.get(op.kind, 0))
        if x.is_const:
            raise Unsupported(f"input '{x.name}' is a constant; the kernel reads its input from the "
                              "activation arena", "fold constant computations into constants "
                              "(TFLiteConverter does), or feed the operator from the model input")
    _RULES[op.kind](g, op)


# ---- one operand -------------------------------------------------------------------------------------


def _fmt(scale: float) -> str:
    return f"{float(np.float32(scale)):.9g}"


def _dtype(t: Tensor, what: str, *allowed: DType) -> None:
    names = " or ".join(d.value for d in allowed)
    need(t.dtype in allowed, f"{what} '{t.name}' is {t.dtype.value}, expected {names}")


OTHER_QUANTISED = frozenset({DType.UINT8, DType.INT16})
"""Activation types TFLite has kernels for (uint8 and 16x8 quantisation) that mcuforge computes only
at the model's edge (uint8 through QUANTIZE) or not at all: refused as unsupported, not as corrupt."""


def _activation(t: Tensor, what: str, dtype: DType = DType.INT8) -> None:
    """An int8 activation (or constant operand; uint8 for QUANTIZE): one scale, one zero point."""
    if t.dtype is not dtype and t.dtype in OTHER_QUANTISED:
        raise Unsupported(f"{what} '{t.name}' is {t.dtype.value}, expected {dtype.value}",
                          "mcuforge computes int8 activations, with uint8 only at the model's "
                          "inputs and outputs (QUANTIZE); convert with TFLITE_BUILTINS_INT8")
    _dtype(t, what, dtype)
    q = t.quant
    need(q is not None, f"{what} '{t.name}' is {dtype.value} without quantization parameters "
                        "(scale, zero_point)")
    assert q is not None
    need(len(q.scale) == 1, f"{what} '{t.name}' has {len(q.scale)} quantization scales; "
                            f"{dtype.value} activations take one scale and one zero point (per "
                            "tensor)")


def _weights(t: Tensor, what: str, n_out: int, axis: int) -> None:
    """Symmetric int8 weights, per tensor or per output channel along ``axis``."""
    _dtype(t, what, DType.INT8)
    q = t.quant
    need(q is not None, f"{what} '{t.name}' is int8 without quantization parameters")
    assert q is not None
    nonzero = sorted({z for z in q.zero_point if z != 0})
    need(not nonzero, f"{what} '{t.name}' has quantization.zero_point {nonzero[:4]}; int8 weights "
                      "are symmetric (zero point 0), as TFLite's quantization spec requires")
    need(len(q.scale) in (1, n_out), f"{what} '{t.name}' has {len(q.scale)} quantization scales "
                                     f"for {n_out} output channels (1 or {n_out})")
    if len(q.scale) > 1:
        need(q.axis == axis, f"{what} '{t.name}' is quantised along dimension {q.axis} "
                             f"(quantization.quantized_dimension); the kernel takes dimension {axis}")


def _same_quantization(x: Tensor, y: Tensor, what: str, kind: OpKind) -> None:
    qx, qy = x.quant, y.quant
    assert qx is not None and qy is not None
    need(qx.scale == qy.scale and qx.zero_point == qy.zero_point,
         f"{what} '{x.name}' (scale {_fmt(qx.scale[0])}, zero point {qx.zero_point[0]}) and output "
         f"'{y.name}' (scale {_fmt(qy.scale[0])}, zero point {qy.zero_point[0]}) are quantised "
         f"differently; TFLite's int8 {kind.value} needs them equal")


def _input(g: Graph, op: Op, pos: int) -> Tensor:
    return g.tensors[op.inputs[pos]]


def _output(g: Graph, op: Op) -> Tensor:
    return g.tensors[op.outputs[0]]


# ---- operators ---------------------------------------------------------------------------------------


def _weighted(g: Graph, op: Op) -> None:
    """CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: int8 in and out, int8 weights, int32 bias."""
    x, w, y = _input(g, op, 0), _input(g, op, 1), _output(g, op)
    _activation(x, "input")
    _activation(y, "output")
    depthwise = op.kind is OpKind.DEPTHWISE_CONV_2D
    axis = 3 if depthwise else 0
    _weights(w, "filter" if op.kind is not OpKind.FULLY_CONNECTED else "weights",
             w.shape[axis], axis)
    has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
    if op.kind is not OpKind.FULLY_CONNECTED:
        need(has_bias, f"has no bias (input 2); TFLite's int8 {op.kind.value} needs an int32 bias",
             "re-export the model with TFLiteConverter, which always writes one")
    if has_bias:
        b = _input(g, op, 2)
        _dtype(b, "bias", DType.INT32)
        nonzero = sorted({z for z in b.quant.zero_point if z != 0}) if b.quant else []
        need(not nonzero, f"bias '{b.name}' has quantization.zero_point {nonzero[:4]}; biases have "
                          "zero point 0")
        if op.kind is OpKind.FULLY_CONNECTED:
            _fc_bias_scale(x, w, b, y)
    _accumulators_fit(op, x, w, _input(g, op, 2) if has_bias else None, y)


INT32_LIMIT = 2**31 - 256
"""Accumulators and rescaled accumulators must stay this far inside int32 (the output offset is added
after the rescale); beyond it TFLite's kernels overflow, with undefined results."""


def _accumulators_fit(op: Op, x: Tensor, w: Tensor, b: Tensor | None, y: Tensor) -> None:
    """The largest accumulator any input can produce, and its rescaled value, fit in int32."""
    depthwise = op.kind is OpKind.DEPTHWISE_CONV_2D
    weights = np.abs(np.asarray(w.data, dtype=np.int64))
    n_out = weights.shape[-1] if depthwise else weights.shape[0]
    per_out = weights.reshape(-1, n_out).sum(axis=0) if depthwise else \
        weights.reshape(n_out, -1).sum(axis=1)
    bound = 255 * per_out  # |input - zero point| <= 255
    if b is not None and b.data is not None:
        bound = bound + np.abs(np.asarray(b.data, dtype=np.int64)).reshape(-1)
    assert x.quant is not None and w.quant is not None and y.quant is not None
    scales = w.quant.scale if len(w.quant.scale) > 1 else w.quant.scale * n_out
    for o in range(n_out):
        real = float(np.float32(x.quant.scale[0])) * float(np.float32(scales[o])) / \
            float(np.float32(y.quant.scale[0]))
        if op.kind is OpKind.FULLY_CONNECTED:
            scaled = float(bound[o]) * real
        else:
            shift = quantize_multiplier(real)[1]
            scaled = float(bound[o]) * 2.0 ** max(shift, 0)
        need(int(bound[o]) < INT32_LIMIT and scaled < INT32_LIMIT,
             f"output channel {o}: the accumulator can reach {int(bound[o]):,} and its rescale by "
             f"{real:.6g} leaves int32, where TFLite's result is undefined",
             "re-export the model with TFLiteConverter; its quantisation keeps accumulators in range")


def _legacy_scale(t: Tensor) -> float:
    """The one scale TFLite keeps in ``TfLiteTensor.params`` (0 unless quantised per tensor)."""
    return float(np.float32(t.quant.scale[0])) if t.quant and len(t.quant.scale) == 1 else 0.0


def _fc_bias_scale(x: Tensor, w: Tensor, b: Tensor, y: Tensor) -> None:
    if w.quant is None or len(w.quant.scale) != 1:
        return  # per-channel weights: TFLite does not compare
    product = _legacy_scale(x) * _legacy_scale(w)
    off = abs(product - _legacy_scale(b)) / _legacy_scale(y)
    need(off <= FC_BIAS_SCALE_TOLERANCE,
         f"bias '{b.name}' has scale {_fmt(_legacy_scale(b))}, but input scale times weight scale is "
         f"{product:.9g}; TFLite refuses a FULLY_CONNECTED whose difference is over "
         f"{FC_BIAS_SCALE_TOLERANCE:g} of the output scale")


def _tconv(g: Graph, op: Op) -> None:
    """TRANSPOSE_CONV (inputs: output shape, filter, input, bias): int8 in and out quantised per
    tensor, symmetric int8 filters per tensor or per output channel (dimension 0), an optional
    int32 bias of zero point 0, and every output's sum (at most all taps and input channels, as
    TFLite Micro's int32 scratch gathers it) and its rescale inside int32."""
    x, w, y = _input(g, op, 2), _input(g, op, 1), _output(g, op)
    _activation(x, "input")
    _activation(y, "output")
    _weights(w, "filter", w.shape[0], 0)
    has_bias = len(op.inputs) > 3 and op.inputs[3] >= 0
    b = _input(g, op, 3) if has_bias else None
    if b is not None:
        _dtype(b, "bias", DType.INT32)
        nonzero = sorted({z for z in b.quant.zero_point if z != 0}) if b.quant else []
        need(not nonzero, f"bias '{b.name}' has quantization.zero_point {nonzero[:4]}; biases have "
                          "zero point 0")
    _accumulators_fit(op, x, w, b, y)


def _moves_values(g: Graph, op: Op) -> None:
    """Operators that move int8 values without rescaling them: quantisation unchanged."""
    y = _output(g, op)
    _activation(y, "output")
    if isinstance(op.attrs, ConcatAttrs) and op.attrs.activation is not Activation.NONE:
        raise Unsupported(f"has a fused {op.attrs.activation.name} activation, which TFLite's "
                          "CONCATENATION does not apply", "apply the activation as a layer of its own")
    if isinstance(op.attrs, Pool2DAttrs) and op.kind is OpKind.AVERAGE_POOL_2D:
        x = _input(g, op, 0)
        window = min(op.attrs.filter_h, x.shape[1]) * min(op.attrs.filter_w, x.shape[2])
        _fits(255 * window, 0, f"the sum over a window of {window:,} values")
    data_inputs = range(len(op.inputs)) if op.kind is OpKind.CONCATENATION else (0,)
    for pos in data_inputs:
        what = f"input {pos}" if op.kind is OpKind.CONCATENATION else "input"
        x = _input(g, op, pos)
        _activation(x, what)
        _same_quantization(x, y, what, op.kind)


def _reshape(g: Graph, op: Op) -> None:
    _moves_values(g, op)


def _pad(g: Graph, op: Op) -> None:
    _moves_values(g, op)
    _dtype(_input(g, op, 1), "paddings", DType.INT32, DType.INT64)


def _eltwise(g: Graph, op: Op) -> None:
    x1, x2, y = _input(g, op, 0), _input(g, op, 1), _output(g, op)
    _activation(x1, "first input")
    _activation(x2, "second input")
    _activation(y, "output")
    a = op.attrs
    if op.kind is OpKind.MUL:
        q1, q2, qy = (t.quant for t in (x1, x2, y))
        assert q1 is not None and q2 is not None and qy is not None
        shift = qe.mul_params(q1.scale[0], 0, q2.scale[0], 0, qy.scale[0], 0).out_shift
        _fits(255 * 255, shift, "the product of the inputs")
    if op.kind in (OpKind.ADD, OpKind.SUB) and isinstance(a, ElementwiseAttrs):
        q1, q2, qy = (t.quant for t in (x1, x2, y))
        assert q1 is not None and q2 is not None and qy is not None
        _constants_exist(lambda: qe.add_params(q1.scale[0], q1.zero_point[0], q2.scale[0],
                                               q2.zero_point[0], qy.scale[0], qy.zero_point[0],
                                               a.activation))


def _constants_exist(compute: Callable[[], object]) -> None:
    """The kernel's constants can be computed as TFLite computes them (where TFLite's Prepare
    CHECK-fails, aborting the interpreter, the code generator refuses too)."""
    try:
        compute()
    except InputError as exc:
        raise Problem(exc.message, exc.hint) from None


def _axes(g: Graph, op: Op) -> None:
    axes = _input(g, op, 1)
    _dtype(axes, "axes", DType.INT32)
    need(axes.is_const, f"axes '{axes.name}' is not a constant")


def _mean(g: Graph, op: Op) -> None:
    """MEAN, SUM: int8 in and out; the sum and its rescale stay inside int32."""
    _activation(_input(g, op, 0), "input")
    _activation(_output(g, op), "output")
    _axes(g, op)
    x, y = _input(g, op, 0), _output(g, op)
    if isinstance(op.attrs, MeanAttrs) and x.quant and y.quant:
        count = int(np.prod([x.shape[a] for a in op.attrs.axes], dtype=np.int64))
        shift = qo.sum_params(x.quant.scale[0], 0, y.quant.scale[0], 0, max(count, 1),
                              op.kind is OpKind.MEAN).shift
        _fits(255 * count, shift, f"the sum over {count:,} values")


def _reduce_extreme(g: Graph, op: Op) -> None:
    """REDUCE_MAX, REDUCE_MIN: raw int8 values, so input and output quantised alike (TFLite Micro
    refuses anything else)."""
    x, y = _input(g, op, 0), _output(g, op)
    _activation(x, "input")
    _activation(y, "output")
    _axes(g, op)
    _same_quantization(x, y, "input", op.kind)


def _arg(g: Graph, op: Op) -> None:
    """ARG_MAX, ARG_MIN: int8 input, int32 axis and int32 output, the only forms TFLite Micro
    runs (an int64 output, tf.argmax's default, fails in its Eval)."""
    x, axis, y = _input(g, op, 0), _input(g, op, 1), _output(g, op)
    _activation(x, "input")
    _dtype(axis, "axis", DType.INT32, DType.INT64)
    if axis.dtype is not DType.INT32 or y.dtype is not DType.INT32:
        what, t = ("axis", axis) if axis.dtype is not DType.INT32 else ("output", y)
        if t.dtype is DType.INT64:
            raise Unsupported(f"{what} '{t.name}' is int64; TFLite Micro's {op.kind.value} runs "
                              "with an int32 axis and output only",
                              "convert with an int32 index (tf.math.argmax(..., "
                              "output_type=tf.int32))")
        _dtype(t, what, DType.INT32)


def _probabilities(g: Graph, op: Op) -> None:
    """SOFTMAX, LOGISTIC: int8 in, int8 out quantised as TFLite fixes it (1/256, -128)."""
    x, y = _input(g, op, 0), _output(g, op)
    _activation(x, "input")
    _activation(y, "output")
    assert y.quant is not None
    scale, zp = y.quant.scale[0], y.quant.zero_point[0]
    if op.kind is OpKind.LOGISTIC:
        ok = float(np.float32(scale)) == PROB_SCALE
    else:
        ok = abs(scale - PROB_SCALE) <= SOFTMAX_SCALE_TOLERANCE
    need(ok and zp == PROB_ZERO_POINT,
         f"output '{y.name}' has scale {_fmt(scale)} and zero point {zp}; TFLite's int8 "
         f"{op.kind.value} writes scale 1/256 and zero point -128")
    if isinstance(op.attrs, SoftmaxAttrs):
        beta, x_scale = op.attrs.beta, x.quant.scale[0] if x.quant else 0.0
        _constants_exist(lambda: qe.softmax_params(x_scale, beta))
    depth = x.shape[-1] if x.shape else 1
    if op.kind is OpKind.SOFTMAX and depth >= MAX_SOFTMAX_DEPTH:
        raise Unsupported(f"normalises rows of {depth} values: TFLite's int8 kernel itself can "
                          "overflow there", f"use fewer than {MAX_SOFTMAX_DEPTH} classes per softmax row")


def _quantize(g: Graph, op: Op) -> None:
    """float32 -> int8, and int8 -> int8, uint8 -> int8, int8 -> uint8 (TFLite's Requantize)."""
    x, y = _input(g, op, 0), _output(g, op)
    _dtype(x, "input", DType.FLOAT32, DType.INT8, DType.UINT8)
    _activation(y, "output", y.dtype if y.dtype is DType.UINT8 else DType.INT8)
    if x.dtype is not DType.FLOAT32:
        _activation(x, "input", x.dtype)
        assert x.quant is not None and y.quant is not None
        shift = qe.requantize_params(x.quant.scale[0], 0, y.quant.scale[0], 0).shift
        _fits(255, shift, "the requantised input")


def _relu(g: Graph, op: Op) -> None:
    """RELU, RELU6, LEAKY_RELU, ABS: int8 in and out. TFLite Micro's int8 RELU6 agrees neither with the
    interpreter nor with a rescaled clamp when input and output quantisations differ; such a RELU6
    is refused (with equal quantisations it is a clamp to [zero, six])."""
    x, y = _input(g, op, 0), _output(g, op)
    _activation(x, "input")
    _activation(y, "output")
    assert x.quant is not None and y.quant is not None
    if op.kind is OpKind.RELU6:
        if x.quant.scale[0] != y.quant.scale[0] or x.quant.zero_point[0] != y.quant.zero_point[0]:
            raise Unsupported(f"input '{x.name}' and output '{y.name}' are quantised differently; "
                              "mcuforge reproduces TFLite Micro's int8 RELU6 only without a "
                              "rescale", "give RELU6 the same input and output quantisation, or "
                              "let the converter fuse it into the operator before it")
    else:
        shift = qe.requantize_params(x.quant.scale[0], 0, y.quant.scale[0], 0).shift
        _fits(255, shift, "the rescaled input")


TANH_SCALE = 1.0 / 128.0
"""The output scale TFLite Micro's int8 TANH writes (zero point 0), whatever the output says."""


def _log_softmax(g: Graph, op: Op) -> None:
    """LOG_SOFTMAX: int8 in, int8 out quantised as TFLite Micro requires (16/256, 127); the sum of
    exponentials in Q12 stays below 2^12 terms."""
    x, y = _input(g, op, 0), _output(g, op)
    _activation(x, "input")
    _activation(y, "output")
    assert x.quant is not None and y.quant is not None
    scale, zp = y.quant.scale[0], y.quant.zero_point[0]
    need(float(np.float32(scale)) == qo.LOG_SOFTMAX_SCALE and zp == qo.LOG_SOFTMAX_ZERO_POINT,
         f"output '{y.name}' has scale {_fmt(scale)} and zero point {zp}; TFLite Micro's int8 "
         "LOG_SOFTMAX requires scale 16/256 and zero point 127")
    depth = x.shape[-1] if x.shape else 1
    if depth >= 1 << 12:
        raise Unsupported(f"normalises rows of {depth} values: the kernel's Q12 sum of "
                          "exponentials can overflow there", "use fewer than 4096 classes per row")
    x_scale = x.quant.scale[0]
    _constants_exist(lambda: qo.log_softmax_params(x_scale))


def _l2norm(g: Graph, op: Op) -> None:
    """L2_NORMALIZATION: as TANH, output in steps of 1/128 (zero point 0), which TFLite Micro writes
    whatever the output says; no fused activation and at most 4 dimensions, as TFLite Micro's
    Prepare requires; a row's sum of squares inside int32."""
    x = _input(g, op, 0)
    a = op.attrs
    need(not isinstance(a, ElementwiseAttrs) or a.activation is Activation.NONE,
         f"has a fused {getattr(a, 'activation', Activation.NONE).name} activation, which TFLite "
         "Micro's L2_NORMALIZATION refuses (L2NormOptions.fused_activation_function)")
    need(len(x.shape) <= 4, f"input '{x.name}' has {len(x.shape)} dimensions; TFLite Micro's "
                            "L2_NORMALIZATION takes at most 4")
    _fits(255 * 255 * (x.shape[-1] if x.shape else 1), 0, "a row's sum of squares")
    _tanh(g, op)


def _tanh(g: Graph, op: Op) -> None:
    """TANH: int8 in, int8 out quantised as TFLite Micro's kernel writes it (1/128, 0): TFLite Micro
    ignores the output's quantisation, the interpreter rescales to it, so only there do they agree
    (L2_NORMALIZATION alike)."""
    x, y = _input(g, op, 0), _output(g, op)
    _activation(x, "input")
    _activation(y, "output")
    assert y.quant is not None
    scale, zp = y.quant.scale[0], y.quant.zero_point[0]
    if not (float(np.float32(scale)) == TANH_SCALE and zp == 0):
        raise Unsupported(
            f"output '{y.name}' has scale {_fmt(scale)} and zero point {zp}; TFLite Micro's int8 "
            f"{op.kind.value} writes scale 1/128 and zero point 0 whatever the output's quantisation says (the "
            "interpreter rescales), so the two agree only there",
            f"quantize {op.kind.value}'s output as TFLiteConverter does (scale 1/128, zero "
            "point 0)")


def _int8_in_out(g: Graph, op: Op) -> None:
    """RSQRT: int8 in and out, each quantised per tensor."""
    _activation(_input(g, op, 0), "input")
    _activation(_output(g, op), "output")


def _hard_swish(g: Graph, op: Op) -> None:
    """HARD_SWISH: int8 in and out; TFLite Micro's Prepare refuses an output scale that would make
    its output multiplier a left shift (output scale below input scale / 128)."""
    x, y = _input(g, op, 0), _output(g, op)
    _activation(x, "input")
    _activation(y, "output")
    xq, yq = x.quant, y.quant
    assert xq is not None and yq is not None
    _constants_exist(lambda: qu.hard_swish_params(xq.scale[0], yq.scale[0]))


def _maxmin(g: Graph, op: Op) -> None:
    """MAXIMUM, MINIMUM: TFLite compares the raw int8 values, which is the maximum (minimum) of the
    real values only when both inputs and the output are quantised alike (the converter makes
    them so); anything else is refused."""
    x1, x2, y = _input(g, op, 0), _input(g, op, 1), _output(g, op)
    _activation(x1, "first input")
    _activation(x2, "second input")
    _activation(y, "output")
    for what, x in (("first input", x1), ("second input", x2)):
        qx, qy = x.quant, y.quant
        assert qx is not None and qy is not None
        if qx.scale != qy.scale or qx.zero_point != qy.zero_point:
            raise Unsupported(
                f"{what} '{x.name}' (scale {_fmt(qx.scale[0])}, zero point {qx.zero_point[0]}) and "
                f"output '{y.name}' (scale {_fmt(qy.scale[0])}, zero point {qy.zero_point[0]}) are "
                f"quantised differently; TFLite's int8 {op.kind.value} compares raw values, the "
                "real result only with equal quantisations",
                "quantize both inputs and the output alike (TFLiteConverter does)")


def _sqdiff(g: Graph, op: Op) -> None:
    """SQUARED_DIFFERENCE: int8 inputs and output; the squared difference's rescale stays inside
    int32 (its operands are below 2^15 in magnitude)."""
    x1, x2, y = _input(g, op, 0), _input(g, op, 1), _output(g, op)
    _activation(x1, "first input")
    _activation(x2, "second input")
    _activation(y, "output")
    assert x1.quant is not None and x2.quant is not None and y.quant is not None
    q1, q2, qy = x1.quant, x2.quant, y.quant
    _constants_exist(lambda: qo.sqdiff_constants(q1.scale[0], q1.zero_point[0], q2.scale[0],
                                                 q2.zero_point[0], qy.scale[0], qy.zero_point[0]))
    c = qo.sqdiff_constants(q1.scale[0], q1.zero_point[0], q2.scale[0], q2.zero_point[0],
                            qy.scale[0], qy.zero_point[0])
    diff = max(c.table1) - min(c.table2), max(c.table2) - min(c.table1)
    _fits(max(diff) ** 2, c.params.out_shift, "the squared difference")


def _prelu(g: Graph, op: Op) -> None:
    """PRELU: int8 input, alpha and output, each quantised per tensor; the two rescales (input, and
    input times alpha) stay inside int32."""
    x, alpha, y = _input(g, op, 0), _input(g, op, 1), _output(g, op)
    _activation(x, "input")
    _activation(alpha, "alpha")
    _activation(y, "output")
    assert x.quant is not None and alpha.quant is not None and y.quant is not None
    p = qo.prelu_params(x.quant.scale[0], x.quant.zero_point[0], alpha.quant.scale[0],
                        alpha.quant.zero_point[0], y.quant.scale[0], y.quant.zero_point[0])
    _fits(255, p.shift1, "the input")
    _fits(255 * 255, p.shift2, "the input times alpha")


def _fits(bound: int, shift: int, what: str) -> None:
    """``bound``, shifted left by a positive ``shift`` as TFLite's fixed-point rescale does, fits in
    int32 (beyond it TFLite's integer arithmetic overflows, with undefined results)."""
    need(bound * 2 ** max(shift, 0) < INT32_LIMIT,
         f"{what} can reach {bound:,} and its rescale (shift {shift}) leaves int32, where TFLite's "
         "result is undefined", "re-export the model with TFLiteConverter")


def _moves_only(g: Graph, op: Op) -> None:
    """The data-movement and resize operators: int8 in and out, every output quantised as the
    data input(s); TFLite's kernels copy or interpolate the int8 values without rescaling them."""
    positions = range(len(op.inputs)) if op.kind is OpKind.PACK else (DATA_INPUT.get(op.kind, 0),)
    if _input(g, op, positions[0]).dtype is DType.FLOAT32 and op.kind is not OpKind.RESIZE_BILINEAR \
            and op.kind is not OpKind.RESIZE_NEAREST_NEIGHBOR:
        _float_moves(g, op, positions)
        return
    for tid in op.outputs:
        y = g.tensors[tid]
        _activation(y, "output")
        for pos in positions:
            what = f"input {pos}" if op.kind is OpKind.PACK else "input"
            x = _input(g, op, pos)
            _activation(x, what)
            _same_quantization(x, y, what, op.kind)
    if op.kind is OpKind.SPACE_TO_BATCH_ND:
        _padding_value(g, op)


def _float_moves(g: Graph, op: Op, positions: Sequence[int]) -> None:
    """A data-movement operator of float32 values (between a DEQUANTIZE and QUANTIZE): float in and
    out, copied as they are; no padding, whose value TFLite Micro leaves unset."""
    for pos in positions:
        _dtype(_input(g, op, pos), "input" if op.kind is not OpKind.PACK else f"input {pos}",
               DType.FLOAT32)
    for tid in op.outputs:
        _dtype(g.tensors[tid], "output", DType.FLOAT32)
    if op.kind is OpKind.SPACE_TO_BATCH_ND:
        pads = _input(g, op, 2).data
        need(pads is not None and not np.any(pads != 0),
             "pads float values, with a value TFLite Micro never sets")


def _padding_value(g: Graph, op: Op) -> None:
    """SPACE_TO_BATCH_ND pads with the output zero point in the TFLite interpreter, and TFLite Micro
    with its parameters' output_offset, which it never sets (a persistent buffer: 0 in a fresh arena,
    whatever an earlier model left there otherwise). The engine pads with the zero point, and only
    where it is 0, the one value both can be said to write."""
    y = _output(g, op)
    pads = g.tensors[op.inputs[2]].data
    assert y.quant is not None
    if pads is not None and np.any(pads != 0) and y.quant.zero_point[0] != 0:
        raise Unsupported(f"pads output '{y.name}' of zero point {y.quant.zero_point[0]}: the TFLite "
                          "interpreter pads with the zero point, TFLite Micro with an uninitialised value",
                          "quantise the tensor with zero point 0, or fold the padding into a "
                          "dilated convolution (TFLiteConverter does)")


def _dequantize(g: Graph, op: Op) -> None:
    _activation(_input(g, op, 0), "input")
    _dtype(_output(g, op), "output", DType.FLOAT32)


def folded_only(g: Graph, op: Op) -> None:
    """Operators mcuforge evaluates at import on constants (:mod:`generator.importer.fold`) and
    does not compile: one still in the graph reads an activation."""
    raise Unsupported(f"reads an activation; mcuforge evaluates {op.kind.value} only on constants, "
                      "at import", "export the model with fixed shapes (batch 1) and constant "
                      "operands for this operator")


_RULES: dict[OpKind, Callable[[Graph, Op], None]] = {
    OpKind.CONV_2D: _weighted,
    OpKind.DEPTHWISE_CONV_2D: _weighted,
    OpKind.FULLY_CONNECTED: _weighted,
    OpKind.AVERAGE_POOL_2D: _moves_values,
    OpKind.MAX_POOL_2D: _moves_values,
    OpKind.CONCATENATION: _moves_values,
    OpKind.RESHAPE: _reshape,
    OpKind.PAD: _pad,
    OpKind.ADD: _eltwise,
    OpKind.MUL: _eltwise,
    OpKind.MEAN: _mean,
    OpKind.SOFTMAX: _probabilities,
    OpKind.LOGISTIC: _probabilities,
    OpKind.QUANTIZE: _quantize,
    OpKind.DEQUANTIZE: _dequantize,
    # elementwise and reductions family
    OpKind.RELU: _relu,
    OpKind.RELU6: _relu,
    OpKind.LEAKY_RELU: _relu,
    OpKind.ABS: _relu,
    OpKind.TANH: _tanh,
    OpKind.HARD_SWISH: _hard_swish,
    OpKind.RSQRT: _int8_in_out,
    OpKind.L2_NORMALIZATION: _l2norm,
    OpKind.LOG_SOFTMAX: _log_softmax,
    OpKind.SUB: _eltwise,
    OpKind.MAXIMUM: _maxmin,
    OpKind.MINIMUM: _maxmin,
    OpKind.PRELU: _prelu,
    OpKind.SQUARED_DIFFERENCE: _sqdiff,
    OpKind.SUM: _mean,
    OpKind.REDUCE_MAX: _reduce_extreme,
    OpKind.REDUCE_MIN: _reduce_extreme,
    OpKind.ARG_MAX: _arg,
    OpKind.ARG_MIN: _arg,
    # layout and data movement
    OpKind.SQUEEZE: _moves_values,
    OpKind.EXPAND_DIMS: _moves_values,
    OpKind.SHAPE: folded_only,
    OpKind.STRIDED_SLICE: _moves_only,
    OpKind.PACK: _moves_only,
    OpKind.GATHER: _moves_only,
    OpKind.TRANSPOSE: _moves_only,
    OpKind.RESIZE_NEAREST_NEIGHBOR: _moves_only,
    OpKind.RESIZE_BILINEAR: _moves_only,
    OpKind.TILE: _moves_only,
    OpKind.REVERSE_V2: _moves_only,
    OpKind.SPLIT: _moves_only,
    OpKind.SPLIT_V: _moves_only,
    OpKind.UNPACK: _moves_only,
    OpKind.SLICE: _moves_only,
    OpKind.DEPTH_TO_SPACE: _moves_only,
    OpKind.SPACE_TO_DEPTH: _moves_only,
    OpKind.SPACE_TO_BATCH_ND: _moves_only,
    OpKind.BATCH_TO_SPACE_ND: _moves_only,
    # recurrent
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: lstm.check_operands,
    # transposed convolution
    OpKind.TRANSPOSE_CONV: _tconv,
    OpKind.SVDF: svdf.check_operands,
}

FOLDED_ONLY = frozenset(k for k, rule in _RULES.items() if rule is folded_only)
"""Operators known only as constant arithmetic folded at import, never compiled."""
