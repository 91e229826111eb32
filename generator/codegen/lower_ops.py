"""Lowering of the binary operators and reductions of the elementwise and reductions family:
MAXIMUM, MINIMUM and PRELU (ADD's operand addressing, so ADD's broadcast forms); MEAN (other than
over height and width, :mod:`generator.codegen.lower_eltwise`), SUM, REDUCE_MAX, REDUCE_MIN,
ARG_MAX and ARG_MIN over any axes, one kernel (``mcuf_reduce.c``)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from generator.codegen import qparams_ops as qo
from generator.codegen.context import Lowering, params, quant_of, register
from generator.codegen.lower_eltwise import _operand, _pixels_channels
from generator.codegen.schedule import Call, Literal
from generator.errors import UnsupportedOpsError
from generator.ir import ArgAttrs, MeanAttrs, Op, OpKind
from generator.numerics import Numerics


@register(OpKind.MAXIMUM)
@register(OpKind.MINIMUM)
def _maxmin(lw: Lowering, i: int, op: Op) -> None:
    n, c = _pixels_channels(lw.graph, op.outputs[0])
    a, b = (_operand(lw, op, t, c) for t in op.inputs[:2])
    p = params(n=n, c=c, in1_ps=a.ps, in1_chs=a.chs, in2_ps=b.ps, in2_chs=b.chs, out_cs=c,
               is_max=int(op.kind is OpKind.MAXIMUM))
    lw.emit(Call("mcuf_maxmin_s8", (a.ref, b.ref, lw.buf(op.outputs[0])), "mcuf_maxmin_params", p,
                 f"{op.kind.value} {op.name}", i))


@register(OpKind.SQUARED_DIFFERENCE)
def _sqdiff(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    n, c = _pixels_channels(g, op.outputs[0])
    a, b = (_operand(lw, op, t, c) for t in op.inputs[:2])
    q1, q2, qy = (quant_of(g.tensors[t]) for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
    k = qo.sqdiff_constants(q1.single_scale, q1.single_zero_point, q2.single_scale,
                            q2.single_zero_point, qy.single_scale, qy.single_zero_point)
    t1 = lw.const(f"op{i}_t1", np.asarray(k.table1, dtype=np.int32))
    t2 = lw.const(f"op{i}_t2", np.asarray(k.table2, dtype=np.int32))
    p = params(n=n, c=c, in1_ps=a.ps, in1_chs=a.chs, in2_ps=b.ps, in2_chs=b.chs, out_cs=c,
               **asdict(k.params))
    lw.emit(Call("mcuf_sqdiff_s8", (t1, t2, a.ref, b.ref, lw.buf(op.outputs[0])),
                 "mcuf_sqdiff_params", p, f"SQUARED_DIFFERENCE {op.name}", i))


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


_MODES = {OpKind.MEAN: 0, OpKind.SUM: 0, OpKind.REDUCE_MAX: 1, OpKind.REDUCE_MIN: 2,
          OpKind.ARG_MAX: 3, OpKind.ARG_MIN: 4}
"""The kernel's mode of each reduction (MCUF_REDUCE_SUM, ..._MAX, ..._MIN, MCUF_ARG_MAX, ..._MIN)."""


def _geometry_params(lw: Lowering, op: Op, axes: tuple[int, ...]) -> list[tuple[str, int]]:
    x = lw.graph.tensors[op.inputs[0]]
    geo = qo.reduce_geometry(x.shape, axes)
    if geo is None:
        raise UnsupportedOpsError(f"{op.kind.value} '{op.name}' reduces axes {axes} of {x.shape}",
                                  "reduce fewer alternating groups of axes")
    out: list[tuple[str, int]] = [("mode", _MODES[op.kind])]
    for name in ("kd", "ks", "rd", "rs"):
        out += [(f"{name}[{j}]", v) for j, v in enumerate(getattr(geo, name))]
    return [*out, ("count", geo.count)]


def lower_reduce(lw: Lowering, i: int, op: Op) -> None:
    """MEAN, SUM, REDUCE_MAX, REDUCE_MIN over the axes of ``op.attrs`` (any)."""
    a = op.attrs
    assert isinstance(a, MeanAttrs)
    g = lw.graph
    if op.kind is OpKind.SUM and lw.numerics is Numerics.TFLITE_REF:
        raise UnsupportedOpsError(
            f"SUM '{op.name}': TFLite's reference int8 SUM reads its input as uint8 (and sums int8 "
            "values with wrap-around when the quantisations are equal); mcuforge computes TFLite "
            "Micro's SUM only", "compile with --numerics tflm (the default)")
    p = _geometry_params(lw, op, a.axes)
    if op.kind in (OpKind.MEAN, OpKind.SUM):
        qx, qy = quant_of(g.tensors[op.inputs[0]]), quant_of(g.tensors[op.outputs[0]])
        count = dict(p)["count"]
        sp = qo.sum_params(qx.single_scale, qx.single_zero_point, qy.single_scale,
                           qy.single_zero_point, count, op.kind is OpKind.MEAN)
        p += list(asdict(sp).items())
    lw.emit(Call("mcuf_reduce_s8", (lw.buf(op.inputs[0]), lw.buf(op.outputs[0])),
                 "mcuf_reduce_params", tuple(p), f"{op.kind.value} {op.name} axes {a.axes}", i))


@register(OpKind.SUM)
@register(OpKind.REDUCE_MAX)
@register(OpKind.REDUCE_MIN)
def _reduce(lw: Lowering, i: int, op: Op) -> None:
    lower_reduce(lw, i, op)


@register(OpKind.ARG_MAX)
@register(OpKind.ARG_MIN)
def _arg(lw: Lowering, i: int, op: Op) -> None:
    a = op.attrs
    assert isinstance(a, ArgAttrs)
    p = _geometry_params(lw, op, (a.axis,))
    lw.emit(Call("mcuf_arg_s8_i32", (lw.buf(op.inputs[0]), lw.buf(op.outputs[0])),
                 "mcuf_reduce_params", tuple(p), f"{op.kind.value} {op.name} axis {a.axis}", i))


@register(OpKind.L2_NORMALIZATION)
def _l2norm(lw: Lowering, i: int, op: Op) -> None:
    x = lw.graph.tensors[op.inputs[0]]
    depth = x.shape[-1] if x.shape else 1
    lw.emit(Call("mcuf_l2norm_s8", (Literal(str(x.size // depth)), Literal(str(depth)),
                                    Literal(str(quant_of(x).single_zero_point)),
                                    lw.buf(op.inputs[0]), lw.buf(op.outputs[0])),
                 comment=f"L2_NORMALIZATION {op.name}", op_index=i))


@register(OpKind.LOG_SOFTMAX)
def _log_softmax(lw: Lowering, i: int, op: Op) -> None:
    x = lw.graph.tensors[op.inputs[0]]
    depth = x.shape[-1] if x.shape else 1
    lp = qo.log_softmax_params(quant_of(x).single_scale)
    p = params(rows=x.size // depth, depth=depth, **asdict(lp))
    lw.emit(Call("mcuf_log_softmax_s8", (lw.buf(op.inputs[0]), lw.buf(op.outputs[0])),
                 "mcuf_log_softmax_params", p, f"LOG_SOFTMAX {op.name}", i))
