"""Lowering of the one-input operators RELU, RELU6, LEAKY_RELU, ABS, TANH, HARD_SWISH and RSQRT
(elementwise and reductions family): a 256-entry table computed at compile time
(:mod:`generator.codegen.qparams_unary`), one lookup in C."""

from __future__ import annotations

from generator.codegen import qparams_eltwise as qe
from generator.codegen import qparams_unary as qu
from generator.codegen.context import Lowering, quant_of, register
from generator.codegen.lower_eltwise import emit_table
from generator.ir import LeakyReluAttrs, Op, OpKind


def table_of(lw: Lowering, op: Op) -> tuple[int, ...]:
    """The 256-entry table of any operator of :data:`generator.plan.relations.TABLE_KINDS`."""
    g = lw.graph
    qx, qy = quant_of(g.tensors[op.inputs[0]]), quant_of(g.tensors[op.outputs[0]])
    if op.kind is OpKind.LOGISTIC:
        return qe.logistic_params(qx.single_scale, qx.single_zero_point, qy.single_zero_point,
                                  lw.numerics).table
    if isinstance(op.attrs, LeakyReluAttrs):
        return qu.leaky_relu_table(qx.single_scale, qx.single_zero_point, qy.single_scale,
                                   qy.single_zero_point, op.attrs.alpha)
    if op.kind is OpKind.TANH:
        return qu.tanh_table(qx.single_scale, qx.single_zero_point, qy.single_scale,
                             qy.single_zero_point, lw.numerics)
    if op.kind is OpKind.HARD_SWISH:
        return qu.hard_swish_table(qx.single_scale, qx.single_zero_point, qy.single_scale,
                                   qy.single_zero_point)
    if op.kind is OpKind.RSQRT:
        return qu.rsqrt_table(qx.single_scale, qx.single_zero_point, qy.single_scale,
                              qy.single_zero_point)
    if op.kind is OpKind.ABS:
        return qu.abs_table(qx.single_scale, qx.single_zero_point, qy.single_scale,
                            qy.single_zero_point)
    if op.kind is OpKind.RELU6:
        return qu.relu6_table(qx.single_scale, qx.single_zero_point)
    return qu.relu_table(qx.single_scale, qx.single_zero_point, qy.single_scale,
                         qy.single_zero_point)


@register(OpKind.RELU)
@register(OpKind.RELU6)
@register(OpKind.LEAKY_RELU)
@register(OpKind.ABS)
@register(OpKind.TANH)
@register(OpKind.HARD_SWISH)
@register(OpKind.RSQRT)
def _lut(lw: Lowering, i: int, op: Op) -> None:
    emit_table(lw, i, op, table_of(lw, op))
