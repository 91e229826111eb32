"""Lowering of UNIDIRECTIONAL_SEQUENCE_LSTM (recurrent family) onto ``mcuf_lstm_s8``: the four
gates' weights stacked in one array per product (input, recurrent), the zero points folded into
their biases, TFLite Micro's multipliers (:mod:`generator.codegen.qparams_lstm`) in the parameter
struct, and one batch row of int16 cell state as arena scratch (the planner counts it:
:func:`generator.plan.pex.build_program`)."""

from __future__ import annotations

import numpy as np

from generator.codegen import qparams_lstm as ql
from generator.codegen.context import Lowering, params, quant_of, register
from generator.codegen.schedule import Call
from generator.errors import UnsupportedOpsError
from generator.importer.lstm import INPUT, sizes
from generator.ir import DType, LstmAttrs, Op, OpKind
from generator.numerics import Numerics


@register(OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM)
def _lstm(lw: Lowering, i: int, op: Op) -> None:
    g, a = lw.graph, op.attrs
    assert isinstance(a, LstmAttrs)
    if lw.numerics is Numerics.TFLITE_REF:
        raise UnsupportedOpsError(
            f"UNIDIRECTIONAL_SEQUENCE_LSTM '{op.name}': TFLite's interpreter computes the int8 LSTM "
            "with the scales of the operator's intermediate tensors, which TFLite Micro ignores; "
            "mcuforge reproduces TFLite Micro's", "compile with the default numerics (TFLite Micro)")
    x = g.tensors[op.inputs[INPUT]]
    batches, steps, in_n, units = sizes(g, op)
    qx = quant_of(x)
    wx = [g.tensors[op.inputs[p]] for p in ql.INPUT_WEIGHTS]
    wh = [g.tensors[op.inputs[p]] for p in ql.RECURRENT_WEIGHTS]
    biases = [g.tensors[op.inputs[p]].data for p in ql.GATE_BIASES]
    q = ql.lstm_params(qx.single_scale, tuple(quant_of(w).single_scale for w in wx), a.hidden_scale,
                       tuple(quant_of(w).single_scale for w in wh), a.cell_scale, a.cell_clip)
    wx_data = [np.asarray(w.data, np.int8) for w in wx]
    wh_data = [np.asarray(w.data, np.int8) for w in wh]
    bx = np.concatenate([ql.folded_bias(w, b, -qx.single_zero_point)  # type: ignore[arg-type]
                         for w, b in zip(wx_data, biases, strict=True)])
    bh = np.concatenate([ql.folded_bias(w, None, -a.hidden_zero_point) for w in wh_data])
    fields: dict[str, int] = dict(batches=batches, steps=steps, in_n=in_n, units=units,
                                  time_major=int(a.time_major))
    for n, gate in enumerate("ifgo"):
        fields |= {f"in_mult_{gate}": q.in_mult[n], f"in_shift_{gate}": q.in_shift[n],
                   f"rec_mult_{gate}": q.rec_mult[n], f"rec_shift_{gate}": q.rec_shift[n]}
    fields |= dict(forget_mult=q.forget_mult, forget_shift=q.forget_shift,
                   input_mult=q.input_mult, input_shift=q.input_shift,
                   hidden_mult=q.hidden_mult, hidden_shift=q.hidden_shift,
                   tanh_mult=q.tanh_mult, tanh_shift=q.tanh_shift, clip=q.clip,
                   hid_zp=a.hidden_zero_point)
    cell = lw.buf_named(ql.cell_buffer(i), ql.cell_bytes(units), DType.INT16)
    args = (lw.buf(op.inputs[INPUT]),
            lw.const(f"op{i}_wx", np.concatenate([w.reshape(-1) for w in wx_data])),
            lw.const(f"op{i}_bx", bx),
            lw.const(f"op{i}_wh", np.concatenate([w.reshape(-1) for w in wh_data])),
            lw.const(f"op{i}_bh", bh), cell, lw.buf(op.outputs[0]))
    lw.emit(Call("mcuf_lstm_s8", args, "mcuf_lstm_params", params(**fields),
                 f"UNIDIRECTIONAL_SEQUENCE_LSTM {op.name}", i))
