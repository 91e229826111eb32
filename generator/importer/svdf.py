"""SVDF at import: its five operands, its options and the one form mcuforge compiles, the integer
kernel TFLite Micro runs (int8 input, feature weights and output quantised per tensor, int16 time
weights and an int16 activation state of zero point 0, or int8 ones, which TFLite Micro runs and
the interpreter does not; an int32 bias of the scale TFLite Micro's Prepare requires). Every other
form is refused naming the tensor.

The activation state (input 4) is a variable tensor in the file; it leaves the IR's operands (its
slot becomes -1) and its scale goes into :class:`~generator.ir.SvdfAttrs`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from generator.codegen import qparams_svdf as qs
from generator.importer.problems import Problem, Unsupported, need, single_quant
from generator.ir import Activation, DType, Graph, Op, SvdfAttrs, Tensor

N_OPERANDS = 5
INPUT, FEATURE, TIME, BIAS, STATE = 0, 1, 2, 3, 4
OPERANDS = ("input", "weights_feature", "weights_time", "bias", "activation_state")
"""TFLite's names of the operands, by position (svdf.h)."""
MAX_RANK = 1 << 16
MIN_SCALE, MAX_SCALE = 2.0**-64, 2.0**64
"""The state's scale within the range the import checks allow every tensor's."""
INT32_LIMIT = 2**31 - 256


def state_slots(inputs: Sequence[int]) -> tuple[int, ...]:
    """The tensor in the state slot (a variable tensor in the file)."""
    return (inputs[STATE],) if len(inputs) > STATE and inputs[STATE] >= 0 else ()


def ir_inputs(inputs: Sequence[int]) -> tuple[int, ...]:
    """The operands as the IR holds them: the state slot absent."""
    return tuple(-1 if p == STATE else t for p, t in enumerate(inputs))


def _what(pos: int) -> str:
    return f"{OPERANDS[pos]} (input {pos})"


def _one_scale(t: Tensor, pos: int) -> tuple[float, int]:
    return single_quant(t, _what(pos), "TFLite Micro's SVDF reads one scale per tensor",
                        "quantise the SVDF's tensors per tensor")


def _type(t: Tensor, pos: int, dtype: DType, why: str) -> None:
    if t.dtype is not dtype:
        raise Unsupported(f"{_what(pos)} '{t.name}' is {t.dtype.value}; mcuforge compiles the "
                          f"integer SVDF with {why}, as TFLite Micro runs it",
                          "convert with TFLITE_BUILTINS_INT8 (int8 activations, int16 state)")


def read_attrs(inputs: Sequence[int], tensors: Sequence[Tensor], rank: int, activation: int,
               activation_names: dict[int, str]) -> SvdfAttrs:
    """The attributes, refusing (naming the tensor) what TFLite Micro's integer SVDF does not run
    or what the interpreter refuses: raises :class:`Problem` / :class:`Unsupported`."""
    need(len(inputs) == N_OPERANDS, f"has {len(inputs)} inputs; SVDF takes {N_OPERANDS}")
    for pos in (INPUT, FEATURE, TIME, STATE):
        need(inputs[pos] >= 0, f"{_what(pos)} is absent (-1); SVDF needs it")
    if inputs[BIAS] < 0:
        raise Unsupported(f"has no {_what(BIAS)}; TFLite Micro's integer SVDF reads the bias's "
                          "scale in its Prepare (it fails without one)",
                          "export the SVDF with a bias (zeros will do)")
    x, wt, state = tensors[inputs[INPUT]], tensors[inputs[TIME]], tensors[inputs[STATE]]
    if x.dtype is DType.FLOAT32:
        raise Unsupported(f"is a float or hybrid SVDF: {_what(INPUT)} '{x.name}' is float32",
                          "quantise the model to full int8 (TFLITE_BUILTINS_INT8)")
    need(1 <= rank <= MAX_RANK, f"SVDFOptions.rank is {rank}; TFLite needs a rank >= 1")
    act = activation_names.get(activation)
    if act not in ("NONE", "RELU"):
        raise Unsupported(f"has a fused {act or activation} activation "
                          "(SVDFOptions.fused_activation_function); TFLite Micro's integer SVDF "
                          "applies none and the interpreter runs RELU only (without applying it)",
                          "export the SVDF with activation NONE or RELU")
    if state.dtype not in (DType.INT16, DType.INT8):
        _type(state, STATE, DType.INT16, "an int16 (or int8) activation state")
    need(len(wt.shape) == 2, f"{_what(TIME)} '{wt.name}' has shape {wt.shape}, expected "
                             "[filters, memory]")
    wf = tensors[inputs[FEATURE]]
    if len(x.shape) == 2 and len(wf.shape) == 2:
        check_state_shape(state, x.shape[0], wf.shape[0], wt.shape[1])
    scale, zp = _one_scale(state, STATE)
    need(math.isfinite(scale) and MIN_SCALE <= scale <= MAX_SCALE,
         f"{_what(STATE)} '{state.name}' has scale {scale:g} (zero, negative, NaN or absurd)")
    bits = 16 if state.dtype is DType.INT16 else 8
    need(zp == 0 if bits == 16 else -128 <= zp <= 127,
         f"{_what(STATE)} '{state.name}' has zero point {zp}; the int16 state is symmetric (zero "
         "point 0)" if bits == 16 else f"{_what(STATE)} '{state.name}' has zero point {zp}, "
         "outside int8")
    return SvdfAttrs(rank=rank, memory=wt.shape[1], state_scale=scale, state_name=state.name,
                     state_bits=bits, state_zero_point=zp,
                     activation=Activation.RELU if act == "RELU" else Activation.NONE)


def _t(g: Graph, op: Op, pos: int) -> Tensor:
    return g.tensors[op.inputs[pos]]


def sizes(g: Graph, op: Op) -> tuple[int, int, int, int]:
    """(batches, input features, filters, units)."""
    a = op.attrs
    assert isinstance(a, SvdfAttrs)
    x, wf = _t(g, op, INPUT), _t(g, op, FEATURE)
    return x.shape[0], x.shape[1], wf.shape[0], wf.shape[0] // a.rank


def check_shapes(g: Graph, op: Op) -> None:
    """TFLite Micro's PrepareSvdf: a [batch, input] input, [filters, input] feature weights,
    [filters, memory] time weights, filters a multiple of the rank, a bias of one value per unit
    and a [batch, units] output (the state's shape was [batch, memory * filters])."""
    a = op.attrs
    assert isinstance(a, SvdfAttrs)
    x, wf, wt, b, y = (_t(g, op, INPUT), _t(g, op, FEATURE), _t(g, op, TIME), _t(g, op, BIAS),
                       g.tensors[op.outputs[0]])
    need(len(x.shape) == 2, f"{_what(INPUT)} '{x.name}' has shape {x.shape}, expected "
                            "[batch, features]")
    for pos, t in ((FEATURE, wf), (TIME, wt), (BIAS, b)):
        need(t.is_const, f"{_what(pos)} '{t.name}' is not a constant")
    need(len(wf.shape) == 2 and wf.shape[1] == x.shape[1],
         f"{_what(FEATURE)} '{wf.name}' has shape {wf.shape}; input {x.shape} needs [filters, "
         f"{x.shape[1]}]")
    filters = wf.shape[0]
    need(filters % a.rank == 0, f"{_what(FEATURE)} '{wf.name}' has {filters} filters, not a "
                                f"multiple of the rank {a.rank}")
    need(wt.shape == (filters, a.memory), f"{_what(TIME)} '{wt.name}' has shape {wt.shape}, "
                                          f"expected ({filters}, memory)")
    units = filters // a.rank
    need(b.size == units, f"{_what(BIAS)} '{b.name}' has {b.size} values for {units} units")
    need(y.shape == (x.shape[0], units), f"output '{y.name}' has shape {y.shape}, expected "
                                         f"({x.shape[0]}, {units})")


def check_state_shape(state: Tensor, batches: int, filters: int, memory: int) -> None:
    need(state.shape == (batches, memory * filters),
         f"{_what(STATE)} '{state.name}' has shape {state.shape}, expected ({batches}, "
         f"{memory * filters}) (batch, memory x filters)")


def check_operands(g: Graph, op: Op) -> None:
    """Types and quantisation as TFLite Micro's integer SVDF takes them, its bias scale check, the
    feature products inside int32, and no left shift of a unit's sum beyond it (the sum itself
    may wrap: real models' biases reach 2^31, and TFLite Micro's int32 addition wraps)."""
    a = op.attrs
    assert isinstance(a, SvdfAttrs)
    x, wf, wt, b, y = (_t(g, op, INPUT), _t(g, op, FEATURE), _t(g, op, TIME), _t(g, op, BIAS),
                       g.tensors[op.outputs[0]])
    _type(x, INPUT, DType.INT8, "int8 activations")
    _type(wf, FEATURE, DType.INT8, "int8 feature weights")
    state_type = DType.INT16 if a.state_bits == 16 else DType.INT8
    _type(wt, TIME, state_type, f"{state_type.value} time weights with an {state_type.value} state")
    _type(b, BIAS, DType.INT32, "an int32 bias")
    if y.dtype is not DType.INT8:
        raise Unsupported(f"output '{y.name}' is {y.dtype.value}; the integer SVDF writes int8",
                          "convert with TFLITE_BUILTINS_INT8")
    xs, _ = _one_scale(x, INPUT)
    wfs, wfz = _one_scale(wf, FEATURE)
    wts, wtz = _one_scale(wt, TIME)
    bs, _ = _one_scale(b, BIAS)
    ys = y.quant.scale[0] if y.quant and len(y.quant.scale) == 1 else None
    need(ys is not None, f"output '{y.name}' is int8 without one scale and zero point")
    assert ys is not None
    for pos, t, z in ((FEATURE, wf, wfz), (TIME, wt, wtz)):
        need(z == 0, f"{_what(pos)} '{t.name}' has zero point {z}; TFLite's integer SVDF takes "
                     "symmetric weights (zero point 0)")
    if not qs.bias_scale_ok(bs, a.state_scale, wts):
        raise Unsupported(f"{_what(BIAS)} '{b.name}' has scale {bs:.9g}; TFLite Micro's Prepare "
                          f"refuses any other than state scale times time weights scale "
                          f"({float(np.float32(a.state_scale) * np.float32(wts)):.9g}, within "
                          f"{qs.BIAS_SCALE_TOLERANCE:g})", "re-export the model with TFLiteConverter")
    reals = qs.real_scales(xs, wfs, a.state_scale, wts, ys)
    need(all(math.isfinite(r) for r in reals),
         f"its rescales ({reals[0]:g}, {reals[1]:g}: input times feature weights over state scale, "
         "state times time weights over output scale) overflow float32, as TFLite Micro computes "
         "them")
    p = qs.svdf_params(xs, wfs, a.state_scale, wts, ys)
    # each filter's feature product and its int16 state value, bounded from the weights
    feature = 255 * np.abs(np.asarray(wf.data, np.int64)).sum(axis=1)
    need(int(feature.max()) < INT32_LIMIT and
         float(feature.max()) * 2.0 ** max(p.shift1, 0) < INT32_LIMIT,
         f"{_what(FEATURE)} '{wf.name}': a feature product can reach {int(feature.max()):,}, and its "
         "rescale leaves int32, where TFLite's result is undefined",
         "re-export the model with TFLiteConverter")
    state_max = np.minimum(np.floor(feature * reals[0]) + 2, 2**15) if a.state_bits == 16 else \
        np.full(feature.shape, 255.0)  # an int8 state value minus its zero point
    last = np.abs(np.asarray(wt.data, np.float64)[:, -1]) * state_max
    total = int((last.reshape(-1, a.rank).sum(axis=1) +
                 np.abs(np.asarray(b.data, np.float64)).reshape(-1)).max())
    # the sum wraps in int32 as TFLite Micro's does (the kernel adds with two's complement
    # wrap-around); a left shift of its rescale would overflow, undefined in TFLite
    need(p.shift2 <= 0 or total * 2.0 ** p.shift2 < INT32_LIMIT,
         f"{_what(TIME)} '{wt.name}': a unit's sum can reach {total:,}, and its rescale (shift "
         f"{p.shift2}) leaves int32, where TFLite's result is undefined",
         "re-export the model with TFLiteConverter")


__all__ = ["Problem", "check_operands", "check_shapes", "check_state_shape", "ir_inputs",
           "read_attrs", "sizes", "state_slots"]
