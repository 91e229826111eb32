"""Lowering of SVDF onto ``mcuf_svdf_s8``: TFLite Micro's two multipliers
(:mod:`generator.codegen.qparams_svdf`), the feature weights as the file holds them and only the
time weights' newest column (as int16, whether the file's are int16 or int8), the one a fresh
state lets count (the state is reset every inference,
:class:`generator.ir.SvdfAttrs`), so the engine keeps no state and needs no scratch."""

from __future__ import annotations

import numpy as np

from generator.codegen import qparams_svdf as qs
from generator.codegen.context import Lowering, params, quant_of, register
from generator.codegen.schedule import Call
from generator.errors import UnsupportedOpsError
from generator.importer.svdf import BIAS, FEATURE, INPUT, TIME, sizes
from generator.ir import Activation, Op, OpKind, SvdfAttrs
from generator.numerics import Numerics


@register(OpKind.SVDF)
def _svdf(lw: Lowering, i: int, op: Op) -> None:
    g, a = lw.graph, op.attrs
    assert isinstance(a, SvdfAttrs)
    if lw.numerics is Numerics.TFLITE_REF and a.state_bits == 8:
        raise UnsupportedOpsError(
            f"SVDF '{op.name}' has an int8 state, which the TFLite interpreter does not run (TFLite "
            "Micro does)", "compile with the default numerics (TFLite Micro)")
    if lw.numerics is Numerics.TFLITE_REF and a.activation is not Activation.RELU:
        raise UnsupportedOpsError(
            f"SVDF '{op.name}' has fused activation {a.activation.name}: the TFLite interpreter runs "
            "the integer SVDF only with RELU (which it does not apply), so there is nothing to "
            "match; TFLite Micro runs it", "compile with the default numerics (TFLite Micro)")
    x, wf, wt, b = (g.tensors[op.inputs[p]] for p in (INPUT, FEATURE, TIME, BIAS))
    y = g.tensors[op.outputs[0]]
    batches, in_n, filters, _ = sizes(g, op)
    qx = quant_of(x)
    p = qs.svdf_params(qx.single_scale, quant_of(wf).single_scale, a.state_scale,
                       quant_of(wt).single_scale, quant_of(y).single_scale)
    fields = dict(batches=batches, in_n=in_n, filters=filters, rank=a.rank,
                  in_zp=qx.single_zero_point, mult1=p.mult1, shift1=p.shift1, mult2=p.mult2,
                  shift2=p.shift2, out_zp=quant_of(y).single_zero_point,
                  state_bits=a.state_bits, state_zp=a.state_zero_point)
    assert wf.data is not None and wt.data is not None and b.data is not None
    args = (lw.buf(op.inputs[INPUT]), lw.const(f"op{i}_wf", np.asarray(wf.data, np.int8)),
            lw.const(f"op{i}_wt", np.ascontiguousarray(np.asarray(wt.data, np.int16)[:, -1])),
            lw.const(f"op{i}_bias", np.asarray(b.data, np.int32).reshape(-1)),
            lw.buf(op.outputs[0]))
    lw.emit(Call("mcuf_svdf_s8", args, "mcuf_svdf_params", params(**fields), f"SVDF {op.name}", i))
