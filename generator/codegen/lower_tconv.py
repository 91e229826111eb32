"""Lowering of TRANSPOSE_CONV onto ``mcuf_tconv2d_s8`` (gather form, no scratch): the filter as
the file holds it ([out_c, k_h, k_w, in_c]), CONV_2D's per-channel multipliers (TFLite Micro's
PopulateConvolutionQuantizationParams is the same for both) and the fused activation's clamp."""

from __future__ import annotations

import numpy as np

from generator.codegen import qparams as qp
from generator.codegen import qparams_tconv as qt
from generator.codegen.context import NULL, Lowering, act_range, hwc, params, quant_of, register
from generator.codegen.schedule import Arg, Call
from generator.ir import Op, OpKind, TransposeConvAttrs

OUTPUT_SHAPE, FILTER, INPUT, BIAS = 0, 1, 2, 3
"""TFLite's operand positions (transpose_conv.h)."""


@register(OpKind.TRANSPOSE_CONV)
def _tconv(lw: Lowering, i: int, op: Op) -> None:
    g, a = lw.graph, op.attrs
    assert isinstance(a, TransposeConvAttrs)
    x, w, y = g.tensors[op.inputs[INPUT]], g.tensors[op.inputs[FILTER]], g.tensors[op.outputs[0]]
    (ih, iw, ic), (oh, ow, oc) = hwc(x), hwc(y)
    kh, kw = w.shape[1], w.shape[2]
    scales = quant_of(w).scale if quant_of(w).per_channel else quant_of(w).scale * oc
    mult, shift = qp.conv_multipliers(quant_of(x).single_scale, scales, quant_of(y).single_scale)
    lo, hi = act_range(a.activation, y, op)
    p = dict(in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc, k_h=kh, k_w=kw,
             stride_h=a.stride_h, stride_w=a.stride_w,
             pad_top=qt.pad_before(a.padding, oh, kh, a.stride_h),
             pad_left=qt.pad_before(a.padding, ow, kw, a.stride_w),
             in_offset=-quant_of(x).single_zero_point, out_offset=quant_of(y).single_zero_point,
             act_min=lo, act_max=hi)
    has_bias = len(op.inputs) > BIAS and op.inputs[BIAS] >= 0
    bias: Arg = NULL
    if has_bias:
        data = g.tensors[op.inputs[BIAS]].data
        assert data is not None
        bias = lw.const(f"op{i}_bias", np.asarray(data, np.int32).reshape(-1))
    args = (lw.buf(op.inputs[INPUT]), lw.const(f"op{i}_w", np.asarray(w.data, np.int8)), bias,
            lw.const(f"op{i}_mult", np.asarray(mult, np.int32)),
            lw.const(f"op{i}_shift", np.asarray(shift, np.int32)), lw.buf(op.outputs[0]))
    lw.emit(Call("mcuf_tconv2d_s8", args, "mcuf_tconv_params", params(**p),
                 f"TRANSPOSE_CONV {op.name}", i))
