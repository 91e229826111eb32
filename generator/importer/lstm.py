"""UNIDIRECTIONAL_SEQUENCE_LSTM at import (recurrent family): its 24 operands, its options, and the
one form mcuforge compiles, the one TFLite Micro's integer kernel runs (int8 activations and
weights, int32 gate biases, an int8 hidden state and an int16 cell state of a power-of-two scale, no
peephole, projection or layer norm). Every other form is refused naming the tensor.

The state tensors (inputs 18 and 19) are variable tensors in the file; they leave the IR's operands
(their slots become -1) and their quantisation goes into :class:`~generator.ir.LstmAttrs`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generator.codegen import qparams_lstm as ql
from generator.importer.problems import Unsupported, need, single_quant
from generator.ir import Activation, DType, Graph, LstmAttrs, Op, Tensor

N_OPERANDS = 24
INPUT, HIDDEN_STATE, CELL_STATE = 0, 18, 19
OPERANDS = (
    "input", "input_to_input_weights", "input_to_forget_weights", "input_to_cell_weights",
    "input_to_output_weights", "recurrent_to_input_weights", "recurrent_to_forget_weights",
    "recurrent_to_cell_weights", "recurrent_to_output_weights", "cell_to_input_weights",
    "cell_to_forget_weights", "cell_to_output_weights", "input_gate_bias", "forget_gate_bias",
    "cell_gate_bias", "output_gate_bias", "projection_weights", "projection_bias",
    "output_state", "cell_state", "input_layer_norm_coefficients",
    "forget_layer_norm_coefficients", "cell_layer_norm_coefficients",
    "output_layer_norm_coefficients",
)
"""TFLite's names of the operands, by position (lstm_shared.h)."""
VARIANTS = {
    (9, 10, 11): "peephole connections",
    (16, 17): "a projection layer",
    (20, 21, 22, 23): "layer normalisation",
}
"""Optional operands, each group a variant of the LSTM TFLite Micro's kernel does not run."""
CIFG = (1, 5, 12)
"""Absent together in a coupled input-forget gate LSTM, which TFLite Micro does not run."""
OPTIONAL = frozenset({*CIFG, *(p for group in VARIANTS for p in group)})
"""Positions check_arity lets be absent, so that :func:`read_attrs` names the variant."""
INT32_LIMIT = 2**31 - 256


def state_slots(inputs: Sequence[int]) -> tuple[int, ...]:
    """The tensors of an LSTM operator's state slots (variable tensors in the file; an operator of
    20 operands, without the layer norm ones, has them too, and is refused for its count later)."""
    if len(inputs) <= CELL_STATE:
        return ()
    return tuple(inputs[p] for p in (HIDDEN_STATE, CELL_STATE) if inputs[p] >= 0)


def ir_inputs(inputs: Sequence[int]) -> tuple[int, ...]:
    """The operands as the IR holds them: the state slots absent."""
    return tuple(-1 if p in (HIDDEN_STATE, CELL_STATE) else t for p, t in enumerate(inputs))


def _what(pos: int) -> str:
    return f"{OPERANDS[pos]} (input {pos})"


def _single_quant(t: Tensor, what: str) -> tuple[float, int]:
    return single_quant(t, what, "TFLite Micro's LSTM takes one scale and one zero point per tensor",
                        "convert with TFLiteConverter, which quantises LSTM weights per tensor")


def read_attrs(inputs: Sequence[int], tensors: Sequence[Tensor], activation: int,
               activation_names: dict[int, str], cell_clip: float, proj_clip: float,
               time_major: bool, asymmetric: bool, diagonal: bool) -> LstmAttrs:
    """The attributes, refusing (naming the tensor) every variant TFLite Micro's int8 kernel does
    not run: raises :class:`Problem` / :class:`Unsupported`."""
    for pos in (INPUT, HIDDEN_STATE, CELL_STATE):
        need(inputs[pos] >= 0, f"{_what(pos)} is absent (-1); the LSTM needs it")
    for group, name in VARIANTS.items():
        present = [p for p in group if inputs[p] >= 0]
        if present:
            p = present[0]
            raise Unsupported(f"has {name}: {_what(p)} is tensor '{tensors[inputs[p]].name}'",
                              "mcuforge compiles the standard LSTM (Keras LSTM layers) only, as "
                              "TFLite Micro's integer kernel does")
    absent = [p for p in CIFG if inputs[p] < 0]
    if absent:
        raise Unsupported(f"has a coupled input and forget gate (CIFG): {_what(absent[0])} is "
                          "absent", "mcuforge compiles the standard LSTM with an input gate only")
    if diagonal:
        raise Unsupported("has diagonal recurrent weights "
                          "(UnidirectionalSequenceLSTMOptions.diagonal_recurrent_tensors)",
                          "mcuforge compiles the standard LSTM with full recurrent matrices only")
    x, w = tensors[inputs[INPUT]], tensors[inputs[2]]
    if x.dtype is DType.FLOAT32:
        kind = "a hybrid (float activations, int8 weights)" if w.dtype is DType.INT8 else "a float"
        raise Unsupported(f"is {kind} LSTM: input '{x.name}' is float32",
                          "quantise the model to full int8 with a representative data set "
                          "(TFLITE_BUILTINS_INT8)")
    if x.dtype is not DType.INT8:
        raise Unsupported(f"input '{x.name}' is {x.dtype.value}; mcuforge compiles the int8 LSTM "
                          "(int8 activations, int16 cell state)",
                          "convert with TFLITE_BUILTINS_INT8 (not the 16x8 mode)")
    h, c = tensors[inputs[HIDDEN_STATE]], tensors[inputs[CELL_STATE]]
    need(h.dtype is DType.INT8, f"{_what(HIDDEN_STATE)} '{h.name}' is {h.dtype.value}; TFLite "
                                "Micro needs the hidden state of the input's type (int8)")
    if c.dtype is not DType.INT16:
        raise Unsupported(f"{_what(CELL_STATE)} '{c.name}' is {c.dtype.value}; mcuforge compiles "
                          "the int8 LSTM with an int16 cell state, as TFLite Micro does",
                          "convert with TFLITE_BUILTINS_INT8")
    units = w.shape[0] if w.shape else 0
    batches = x.shape[1 if time_major else 0] if len(x.shape) == 3 else 0
    for pos, t in ((HIDDEN_STATE, h), (CELL_STATE, c)):
        need(t.size == batches * units,
             f"{_what(pos)} '{t.name}' has shape {t.shape}; input {x.shape} and {units} units need "
             f"{batches * units} values (batch x units)")
    h_scale, h_zp = _single_quant(h, _what(HIDDEN_STATE))
    c_scale, c_zp = _single_quant(c, _what(CELL_STATE))
    need(c_zp == 0, f"{_what(CELL_STATE)} '{c.name}' has zero point {c_zp}; the int16 cell state "
                    "is symmetric (zero point 0)")
    power = ql.cell_scale_power(c_scale)
    if power is None or not ql.MIN_CELL_POWER <= power <= ql.MAX_CELL_POWER:
        raise Unsupported(f"{_what(CELL_STATE)} '{c.name}' has scale {float(c_scale):.9g}, not a "
                          f"power of two in 2^{ql.MIN_CELL_POWER}..2^{ql.MAX_CELL_POWER}; TFLite "
                          "Micro's integer tanh of the cell state needs one",
                          "re-export the model with TFLiteConverter, which gives the cell state a "
                          "power-of-two scale")
    act_name = activation_names.get(activation)
    if act_name != "TANH":
        shown = act_name or str(activation)
        raise Unsupported(f"has cell activation {shown} "
                          "(UnidirectionalSequenceLSTMOptions.fused_activation_function); mcuforge "
                          "compiles TANH, the Keras LSTM's", "use activation='tanh'")
    for what, value in (("cell_clip", cell_clip), ("proj_clip", proj_clip)):
        need(not np.isnan(value), f"UnidirectionalSequenceLSTMOptions.{what} is NaN")
    return LstmAttrs(cell_activation=Activation.TANH, cell_clip=float(cell_clip),
                     time_major=time_major, hidden_scale=h_scale, hidden_zero_point=h_zp,
                     cell_scale=c_scale, proj_clip=float(proj_clip),
                     asymmetric_quantize_inputs=asymmetric, hidden_name=h.name, cell_name=c.name)


def _t(g: Graph, op: Op, pos: int) -> Tensor:
    return g.tensors[op.inputs[pos]]


def sizes(g: Graph, op: Op) -> tuple[int, int, int, int]:
    """(batches, time steps, input features, units)."""
    a = op.attrs
    assert isinstance(a, LstmAttrs)
    x, w = _t(g, op, INPUT), _t(g, op, 2)
    t_axis, b_axis = (0, 1) if a.time_major else (1, 0)
    return x.shape[b_axis], x.shape[t_axis], x.shape[2], w.shape[0]


def check_shapes(g: Graph, op: Op) -> None:
    """TFLite Micro's shape rules (ValidateTensorSize): input and output [batch, time, features]
    (time first when time_major), weights [units, features] and [units, units], biases [units]."""
    x, y = _t(g, op, INPUT), g.tensors[op.outputs[0]]
    need(len(x.shape) == 3, f"input '{x.name}' has shape {x.shape}; the LSTM takes 3 dimensions")
    need(len(y.shape) == 3, f"output '{y.name}' has shape {y.shape}; the LSTM writes 3 dimensions")
    units = _t(g, op, 2).shape[0] if _t(g, op, 2).shape else 0
    features = x.shape[2]
    for pos in ql.INPUT_WEIGHTS + ql.RECURRENT_WEIGHTS:
        w = _t(g, op, pos)
        want = (units, features if pos in ql.INPUT_WEIGHTS else units)
        need(w.is_const, f"{_what(pos)} '{w.name}' is not a constant")
        need(w.shape == want, f"{_what(pos)} '{w.name}' has shape {w.shape}, expected {want}")
    for pos in ql.GATE_BIASES:
        b = _t(g, op, pos)
        need(b.is_const, f"{_what(pos)} '{b.name}' is not a constant")
        need(b.shape == (units,), f"{_what(pos)} '{b.name}' has shape {b.shape}, expected "
                                  f"({units},)")
    need(y.shape == (x.shape[0], x.shape[1], units),
         f"output '{y.name}' has shape {y.shape}; input {x.shape} and {units} units give "
         f"{(x.shape[0], x.shape[1], units)}")


def check_operands(g: Graph, op: Op) -> None:
    """Types and quantisation TFLite Micro's int8 kernel computes exactly, and accumulators that
    stay inside int32."""
    a = op.attrs
    assert isinstance(a, LstmAttrs)
    x, y = _t(g, op, INPUT), g.tensors[op.outputs[0]]
    x_scale, _ = _single_quant(x, "input")
    need(y.dtype is DType.INT8, f"output '{y.name}' is {y.dtype.value}; TFLite Micro writes the "
                                "input's type (int8)")
    _single_quant(y, "output")
    scales = {}
    for pos in ql.INPUT_WEIGHTS + ql.RECURRENT_WEIGHTS:
        w = _t(g, op, pos)
        if w.dtype is not DType.INT8:
            raise Unsupported(f"{_what(pos)} '{w.name}' is {w.dtype.value}; mcuforge compiles int8 "
                              "LSTM weights", "quantise the model to full int8")
        scale, zp = _single_quant(w, _what(pos))
        need(zp == 0, f"{_what(pos)} '{w.name}' has zero point {zp}; int8 weights are symmetric")
        scales[pos] = scale
    for pos in ql.GATE_BIASES:
        b = _t(g, op, pos)
        need(b.dtype is DType.INT32, f"{_what(pos)} '{b.name}' is {b.dtype.value}; the int8 LSTM's "
                                     "gate biases are int32")
    p = ql.lstm_params(x_scale, tuple(scales[q] for q in ql.INPUT_WEIGHTS), a.hidden_scale,
                       tuple(scales[q] for q in ql.RECURRENT_WEIGHTS), a.cell_scale, a.cell_clip)
    for gate, wpos, bpos, shift in zip(ql.GATES, ql.INPUT_WEIGHTS, ql.GATE_BIASES, p.in_shift,
                                       strict=True):
        bias = np.abs(np.asarray(_t(g, op, bpos).data, np.int64))
        _accumulators(_t(g, op, wpos), bias, shift, f"the {gate} gate's input product")
    for gate, wpos, shift in zip(ql.GATES, ql.RECURRENT_WEIGHTS, p.rec_shift, strict=True):
        _accumulators(_t(g, op, wpos), np.zeros(1, np.int64), shift,
                      f"the {gate} gate's recurrent product")
    for what, shift in (("forget gate x cell state", p.forget_shift),
                        ("input gate x cell gate", p.input_shift),
                        ("tanh(cell) x output gate", p.hidden_shift)):
        need((1 << 30) * 2 ** max(shift, 0) < INT32_LIMIT,
             f"the product {what} is rescaled with shift {shift} and leaves int32, where TFLite "
             "Micro's result is undefined", "re-export the model with TFLiteConverter")


def _accumulators(w: Tensor, bias: np.ndarray, shift: int, what: str) -> None:
    weights = np.abs(np.asarray(w.data, np.int64))
    bound = 255 * weights.sum(axis=1) + bias
    worst = int(bound.max()) if bound.size else 0
    need(worst < INT32_LIMIT and worst * 2 ** max(shift, 0) < INT32_LIMIT,
         f"{what} can reach {worst:,} and its rescale (shift {shift}) leaves int32, where TFLite "
         "Micro's result is undefined", "re-export the model with TFLiteConverter")

