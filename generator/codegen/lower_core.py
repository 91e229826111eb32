"""Lowering of the weighted operators (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED), pooling, PAD,
RESHAPE (an alias), CONCATENATION and QUANTIZE / DEQUANTIZE into kernel calls."""

from __future__ import annotations

import numpy as np

from generator.codegen import conv_fast as cf
from generator.codegen import dw_fast
from generator.codegen import qparams_eltwise as qe
from generator.codegen.context import (
    Lowering,
    c_float,
    conv_cols,
    conv_fast_refs,
    conv_is_fast,
    conv_params,
    dwconv_params,
    hwc,
    params,
    pool_params,
    quant_of,
    register,
    weighted_constants,
    weighted_consts,
)
from generator.codegen.lower_fc import lower_fc
from generator.codegen.schedule import Call, Literal
from generator.errors import UnsupportedOpsError
from generator.ir import Activation, ConcatAttrs, DType, Op, OpKind, PadAttrs


@register(OpKind.CONV_2D)
def _conv(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    k = weighted_constants(g, op)
    _, _, ic = hwc(g.tensors[op.inputs[0]])
    _, _, oc = hwc(g.tensors[op.outputs[0]])
    p = conv_params(g, op, ic, ic, oc, oc)
    if not conv_is_fast(lw, i, op) and not cf.borrows_output(g, op, ic, oc, oc):
        plain = (lw.buf(op.inputs[0]), *weighted_consts(lw, i, k, k.weights), lw.buf(op.outputs[0]))
        lw.emit(Call("mcuf_conv2d_s8", plain, "mcuf_conv_params", params(**p),
                     f"CONV_2D {op.name}", i))
        return
    wf = lw.const(f"op{i}_wf", cf.fast_filter(k.weights))
    args = (lw.buf(op.inputs[0]), wf, *conv_fast_refs(lw, i, k, p["in_offset"]),
            lw.buf(op.outputs[0]), conv_cols(lw, i, op, ic))
    lw.emit(Call("mcuf_conv2d_fast_s8", args, "mcuf_conv_params", params(**p),
                 f"CONV_2D {op.name}", i))


@register(OpKind.DEPTHWISE_CONV_2D)
def _dwconv(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    k = weighted_constants(g, op)
    _, _, ic = hwc(g.tensors[op.inputs[0]])
    _, _, oc = hwc(g.tensors[op.outputs[0]])
    p = dwconv_params(g, op, ic, ic, oc)
    fast = dw_fast.fast_call(lw, i, k, p, lw.buf(op.inputs[0]), lw.buf(op.outputs[0]), [(0, oc)],
                             0, f"DEPTHWISE_CONV_2D {op.name}")
    if fast is not None:
        lw.emit(fast)
        return
    weights = k.weights.reshape(k.weights.shape[1], k.weights.shape[2], oc)
    args = [lw.buf(op.inputs[0]), *weighted_consts(lw, i, k, weights), lw.buf(op.outputs[0])]
    lw.emit(Call("mcuf_dwconv2d_s8", tuple(args), "mcuf_dwconv_params", params(**p),
                 f"DEPTHWISE_CONV_2D {op.name}", i))


@register(OpKind.FULLY_CONNECTED)
def _fc(lw: Lowering, i: int, op: Op) -> None:
    lower_fc(lw, i, op)


@register(OpKind.AVERAGE_POOL_2D)
@register(OpKind.MAX_POOL_2D)
def _pool(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    _, _, c = hwc(g.tensors[op.inputs[0]])
    func = "mcuf_avgpool_s8" if op.kind is OpKind.AVERAGE_POOL_2D else "mcuf_maxpool_s8"
    lw.emit(Call(func, (lw.buf(op.inputs[0]), lw.buf(op.outputs[0])), "mcuf_pool_params",
                 params(**pool_params(g, op, c, c, c)), f"{op.kind.value} {op.name}", i))


@register(OpKind.PAD)
def _pad(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    a = op.attrs
    assert isinstance(a, PadAttrs)
    pads = list(a.paddings)
    if len(x.shape) != 4 or len(pads) != 4 or pads[0] != (0, 0):
        raise UnsupportedOpsError(
            f"PAD '{op.name}' pads {pads} on shape {x.shape}", "only H, W and C padding of 4-D maps"
        )
    ih, iw, ic = hwc(x)
    _, _, oc = hwc(y)
    p = dict(in_h=ih, in_w=iw, in_c=ic, in_cs=ic, pad_top=pads[1][0], pad_bottom=pads[1][1],
             pad_left=pads[2][0], pad_right=pads[2][1], pad_c_before=pads[3][0],
             pad_c_after=pads[3][1], out_cs=oc, pad_value=quant_of(y).single_zero_point)
    lw.emit(Call("mcuf_pad_s8", (lw.buf(op.inputs[0]), lw.buf(op.outputs[0])), "mcuf_pad_params",
                 params(**p), f"PAD {op.name}", i))


@register(OpKind.CONCATENATION)
def _concat(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    a = op.attrs
    assert isinstance(a, ConcatAttrs)
    if a.activation is not Activation.NONE:
        raise UnsupportedOpsError(f"CONCATENATION '{op.name}' has a fused activation", "")
    y = g.tensors[op.outputs[0]]
    rows = int(np.prod(y.shape[: a.axis], dtype=np.int64))
    pitch = int(np.prod(y.shape[a.axis :], dtype=np.int64))
    qy = quant_of(y)
    col = 0
    for tid in op.inputs:
        x = g.tensors[tid]
        qx = quant_of(x)
        length = int(np.prod(x.shape[a.axis :], dtype=np.int64))
        src = lw.buf(tid) if not x.is_const else lw.const(f"op{i}_in{tid}", x.data)  # type: ignore[arg-type]
        dst = lw.buf(op.outputs[0], col)
        if qx.scale == qy.scale and qx.zero_point == qy.zero_point:
            lw.emit(Call("mcuf_copy_rows_s8", (Literal(str(rows)), Literal(str(length)), src,
                                               Literal(str(length)), dst, Literal(str(pitch))),
                         comment=f"CONCATENATION {op.name}", op_index=i))
        else:
            scale = np.float32(qx.single_scale) * np.float32(1.0 / np.float32(qy.single_scale))
            bias = -np.float32(qx.single_zero_point) * scale
            lw.emit(Call("mcuf_requant_rows_s8", (
                Literal(str(rows)), Literal(str(length)), src, Literal(str(length)), dst,
                Literal(str(pitch)), Literal(c_float(float(scale))), Literal(c_float(float(bias))),
                Literal(str(qy.single_zero_point))), comment=f"CONCATENATION {op.name}", op_index=i))
        col += length


_REQUANT_KERNELS = {(DType.UINT8, DType.INT8): "mcuf_requantize_u8_s8",
                    (DType.INT8, DType.UINT8): "mcuf_requantize_s8_u8",
                    (DType.INT8, DType.INT8): "mcuf_requantize_s8"}
"""The requantising QUANTIZE kernels (mcuf_quant.c, mcuf_requant_u8.c), by input and output type."""


@register(OpKind.QUANTIZE)
def _quantize(lw: Lowering, i: int, op: Op) -> None:
    """float32 -> int8 as TFLite's Quantize; between int8 and uint8 (a uint8 model input or output)
    and int8 -> int8, TFLite's Requantize with the multiplier of in_scale / out_scale (quantize.cc
    Prepare)."""
    g = lw.graph
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    qy = quant_of(y)
    if x.dtype is DType.FLOAT32:
        lw.emit(Call("mcuf_quantize_f32_s8", (
            Literal(str(x.size)), lw.buf(op.inputs[0]), Literal(c_float(qy.single_scale)),
            Literal(str(qy.single_zero_point)), lw.buf(op.outputs[0])), comment=f"QUANTIZE {op.name}",
            op_index=i))
        return
    kernel = _REQUANT_KERNELS.get((x.dtype, y.dtype))
    if kernel is None:
        raise UnsupportedOpsError(f"QUANTIZE '{op.name}' converts {x.dtype.value} to {y.dtype.value}",
                                  "quantize between float32, int8 and uint8 only")
    qx = quant_of(x)
    rp = qe.requantize_params(qx.single_scale, qx.single_zero_point, qy.single_scale,
                              qy.single_zero_point)
    lw.emit(Call(kernel, (
        Literal(str(x.size)), lw.buf(op.inputs[0]), Literal(str(rp.in_zp)), Literal(str(rp.mult)),
        Literal(str(rp.shift)), Literal(str(rp.out_zp)), lw.buf(op.outputs[0])),
        comment=f"QUANTIZE {op.name}", op_index=i))


@register(OpKind.DEQUANTIZE)
def _dequantize(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    x = g.tensors[op.inputs[0]]
    qx = quant_of(x)
    lw.emit(Call("mcuf_dequantize_s8_f32", (
        Literal(str(x.size)), lw.buf(op.inputs[0]), Literal(c_float(qx.single_scale)),
        Literal(str(qx.single_zero_point)), lw.buf(op.outputs[0])), comment=f"DEQUANTIZE {op.name}",
        op_index=i))

