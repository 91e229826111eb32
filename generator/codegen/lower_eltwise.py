"""Lowering of the elementwise and activation operators (ADD, SUB, MUL, MEAN, SOFTMAX, LOGISTIC).

Each builder takes the channel range and pixel strides of the operands so the same code lowers whole
tensors and the channel slices of a partially executed chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from generator.codegen import qparams_eltwise as qe
from generator.codegen.context import Lowering, params, quant_of, register
from generator.codegen.schedule import Arg, BufRef, Call, ConstRef
from generator.errors import UnsupportedOpsError
from generator.ir import ElementwiseAttrs, Graph, MeanAttrs, Op, OpKind, SoftmaxAttrs


@dataclass(frozen=True)
class Operand:
    """An elementwise operand: data[pixel * ps + ch * chs] (see mcuf_add_params)."""

    ref: Arg
    ps: int
    chs: int


def _operand(lw: Lowering, op: Op, tid: int, out_c: int) -> Operand:
    """How ``tid`` is addressed against the op's output: full map, per-pixel, per-channel, scalar."""
    g = lw.graph
    t, y = g.tensors[tid], g.tensors[op.outputs[0]]
    ref: Arg = lw.const(f"op_const_t{tid}", t.data) if t.data is not None else lw.buf(tid)
    if t.size == 1:
        return Operand(ref, 0, 0)
    if t.size == y.size and t.shape[-1] == y.shape[-1]:
        return Operand(ref, y.shape[-1], 1)
    if len(t.shape) == len(y.shape) and t.shape[-1] == 1 and t.size * y.shape[-1] == y.size:
        return Operand(ref, 1, 0)
    if t.size == y.shape[-1]:
        return Operand(ref, 0, 1)
    raise UnsupportedOpsError(
        f"{op.kind.value} '{op.name}' broadcasts {t.shape} to {y.shape}",
        "only same-shape, per-pixel, per-channel or scalar operands are supported",
    )


def _pixels_channels(g: Graph, tid: int) -> tuple[int, int]:
    t = g.tensors[tid]
    c = t.shape[-1] if t.shape else 1
    return t.size // max(c, 1), c


def eltwise_params(g: Graph, op: Op) -> qe.AddParams | qe.MulParams:
    a = op.attrs
    assert isinstance(a, ElementwiseAttrs)
    q1, q2, qy = (quant_of(g.tensors[t]) for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
    args = (q1.single_scale, q1.single_zero_point, q2.single_scale, q2.single_zero_point,
            qy.single_scale, qy.single_zero_point, a.activation)
    return qe.mul_params(*args) if op.kind is OpKind.MUL else qe.add_params(*args)


def emit_eltwise(lw: Lowering, i: int, op: Op, in1: Operand, in2: Operand, out: BufRef,
                 n: int, c: int, out_cs: int, note: str = "") -> None:
    p = asdict(eltwise_params(lw.graph, op))
    p = dict(n=n, c=c, in1_ps=in1.ps, in1_chs=in1.chs, in2_ps=in2.ps, in2_chs=in2.chs,
             out_cs=out_cs, **p)
    if op.kind in (OpKind.ADD, OpKind.SUB):
        # SUB is TFLite's ADD with the second rescaled term subtracted: its table negated
        ap = eltwise_params(lw.graph, op)
        assert isinstance(ap, qe.AddParams)
        t1, t2 = qe.add_tables(ap)
        signs = (1, -1 if op.kind is OpKind.SUB else 1)
        tables = [_add_table(lw, [sign * v for v in t], off, m, s, sign)
                  for t, off, m, s, sign in zip((t1, t2), (ap.in1_offset, ap.in2_offset),
                                                (ap.in1_mult, ap.in2_mult),
                                                (ap.in1_shift, ap.in2_shift), signs, strict=True)]
        lw.emit(Call("mcuf_add_lut_s8", (*tables, in1.ref, in2.ref, out), "mcuf_add_params",
                     params(**p), f"{op.kind.value} {op.name}{note}", i))
        return
    lw.emit(Call("mcuf_mul_s8", (in1.ref, in2.ref, out), "mcuf_mul_params",
                 params(**p), f"{op.kind.value} {op.name}{note}", i))


def _add_table(lw: Lowering, table: list[int], offset: int, mult: int, shift: int,
               sign: int = 1) -> ConstRef:
    """One input's ADD table (negated: SUB's second input), stored once for every ADD whose input
    is rescaled alike."""
    name = f"{'add' if sign > 0 else 'sub'}_t_{'m' if offset < 0 else ''}{abs(offset)}_{mult}_{'m' if shift < 0 else ''}{abs(shift)}"
    if name in lw.consts:
        return ConstRef(name)
    return lw.const(name, np.array(table, dtype=np.int32))


@register(OpKind.ADD)
@register(OpKind.SUB)
@register(OpKind.MUL)
def _eltwise(lw: Lowering, i: int, op: Op) -> None:
    n, c = _pixels_channels(lw.graph, op.outputs[0])
    in1 = _operand(lw, op, op.inputs[0], c)
    in2 = _operand(lw, op, op.inputs[1], c)
    emit_eltwise(lw, i, op, in1, in2, lw.buf(op.outputs[0]), n, c, c)


def mean_params(g: Graph, op: Op, c: int, in_cs: int, out_cs: int) -> dict[str, int]:
    a = op.attrs
    assert isinstance(a, MeanAttrs)
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if len(x.shape) != 4 or a.axes != (1, 2):
        raise UnsupportedOpsError(
            f"MEAN '{op.name}' reduces axes {a.axes} of {x.shape}",
            "only the mean over height and width (global average pooling) is supported",
        )
    qx, qy = quant_of(x), quant_of(y)
    mp = qe.mean_params(qx.single_scale, qx.single_zero_point, qy.single_scale,
                        qy.single_zero_point, x.shape[1] * x.shape[2])
    return dict(in_h=x.shape[1], in_w=x.shape[2], c=c, in_cs=in_cs, out_cs=out_cs, **asdict(mp))


@register(OpKind.MEAN)
def _mean(lw: Lowering, i: int, op: Op) -> None:
    from generator.codegen.lower_ops import lower_reduce

    x = lw.graph.tensors[op.inputs[0]]
    assert isinstance(op.attrs, MeanAttrs)
    if len(x.shape) != 4 or op.attrs.axes != (1, 2):
        lower_reduce(lw, i, op)  # any other axes: the reduction kernel
        return
    c = x.shape[-1]
    lw.emit(Call("mcuf_mean_hw_s8", (lw.buf(op.inputs[0]), lw.buf(op.outputs[0])),
                 "mcuf_mean_params", params(**mean_params(lw.graph, op, c, c, c)),
                 f"MEAN {op.name}", i))


@register(OpKind.SOFTMAX)
def _softmax(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    a = op.attrs
    assert isinstance(a, SoftmaxAttrs)
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    _check_prob_output(op, y)
    sp = qe.softmax_params(quant_of(x).single_scale, a.beta)
    depth = x.shape[-1]
    if depth >= 512:
        raise UnsupportedOpsError(
            f"SOFTMAX '{op.name}' over {depth} values: TFLite's int8 kernel itself can overflow there",
            "use fewer than 512 classes per softmax row",
        )
    p = dict(rows=x.size // depth, depth=depth, **asdict(sp))
    lw.emit(Call("mcuf_softmax_s8", (lw.buf(op.inputs[0]), lw.buf(op.outputs[0])),
                 "mcuf_softmax_params", params(**p), f"SOFTMAX {op.name}", i))


@register(OpKind.LOGISTIC)
def _logistic(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    _check_prob_output(op, y)
    qx = quant_of(x)
    lp = qe.logistic_params(qx.single_scale, qx.single_zero_point, quant_of(y).single_zero_point,
                            lw.numerics)
    emit_table(lw, i, op, lp.table)


def emit_table(lw: Lowering, i: int, op: Op, table: Sequence[int]) -> None:
    """An int8 -> int8 operator as one lookup per value in its 256-entry table (mcuf_logistic_s8,
    a plain table kernel; index x + 128)."""
    x = lw.graph.tensors[op.inputs[0]]
    ref = lw.const(f"op{i}_table", np.asarray(table, dtype=np.int8))
    lw.emit(Call("mcuf_logistic_s8", (lw.buf(op.inputs[0]), lw.buf(op.outputs[0])),
                 "mcuf_logistic_params", (("n", x.size), ("table", ref)),
                 f"{op.kind.value} {op.name}", i))


def _check_prob_output(op: Op, y: object) -> None:
    q = getattr(y, "quant", None)
    if q is None or abs(q.single_scale - qe.PROB_OUTPUT_SCALE) > 1e-9 or \
            q.single_zero_point != qe.PROB_OUTPUT_ZERO_POINT:
        raise UnsupportedOpsError(
            f"{op.kind.value} '{op.name}' output is not quantised as scale 1/256, zero point -128",
            "export with TFLiteConverter's int8 defaults",
        )

