"""Lowering of the binary operators and reductions of the elementwise and reductions family:
MAXIMUM, MINIMUM and PRELU (ADD's operand addressing, so ADD's broadcast forms), ..."""

from __future__ import annotations

from dataclasses import asdict

from generator.codegen import qparams_ops as qo
from generator.codegen.context import Lowering, params, quant_of, register
from generator.codegen.lower_eltwise import _operand, _pixels_channels
from generator.codegen.schedule import Call
from generator.ir import Op, OpKind


@register(OpKind.MAXIMUM)
@register(OpKind.MINIMUM)
def _maxmin(lw: Lowering, i: int, op: Op) -> None:
    n, c = _pixels_channels(lw.graph, op.outputs[0])
    a, b = (_operand(lw, op, t, c) for t in op.inputs[:2])
    p = params(n=n, c=c, in1_ps=a.ps, in1_chs=a.chs, in2_ps=b.ps, in2_chs=b.chs, out_cs=c,
               is_max=int(op.kind is OpKind.MAXIMUM))
    lw.emit(Call("mcuf_maxmin_s8", (a.ref, b.ref, lw.buf(op.outputs[0])), "mcuf_maxmin_params", p,
                 f"{op.kind.value} {op.name}", i))


@register(OpKind.PRELU)
def _prelu(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    n, c = _pixels_channels(g, op.outputs[0])
    x, alpha = (_operand(lw, op, t, c) for t in op.inputs[:2])
    qx, qa, qy = (quant_of(g.tensors[t]) for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
    pp = qo.prelu_params(qx.single_scale, qx.single_zero_point, qa.single_scale,
                         qa.single_zero_point, qy.single_scale, qy.single_zero_point)
    p = params(n=n, c=c, in_ps=x.ps, in_chs=x.chs, alpha_ps=alpha.ps, alpha_chs=alpha.chs,
               out_cs=c, **asdict(pp))
    lw.emit(Call("mcuf_prelu_s8", (x.ref, alpha.ref, lw.buf(op.outputs[0])), "mcuf_prelu_params",
                 p, f"PRELU {op.name}", i))
