"""Lowering of the layout and data-movement operators.

RESHAPE, SQUEEZE and EXPAND_DIMS (:data:`generator.ir.ALIASES`) only relabel the shape of a
contiguous int8 buffer: the output aliases the input and no code runs (TFLM's kernels copy the bytes
when the buffers differ, which leaves the same values).

The other data-movement operators (:data:`generator.layout.MOVES`) become one strided copy per
:class:`generator.layout.Copy` (after a fill of the padding of SPACE_TO_BATCH_ND), the resizes one
call with per-row and per-column index tables computed here as TFLite Micro computes them.
"""

from __future__ import annotations

import math

import numpy as np

from generator.codegen.context import Lowering, params, quant_of, register
from generator.codegen.schedule import Arg, Call, ConstRef, Literal
from generator.ir import ALIASES, Op, OpKind, ResizeAttrs
from generator.layout import MOVES, canonical, moves_of

MAX_COPY_DIMS = 16
"""MCUF_COPY_MAX_DIMS of mcuf_kernels.h (TILE of a rank-8 tensor walks 16 dimensions)."""


def _alias(lw: Lowering, i: int, op: Op) -> None:
    lw.alias(op.outputs[0], op.inputs[0])


for _kind in ALIASES:
    register(_kind)(_alias)


def _operand(lw: Lowering, i: int, tid: int) -> Arg:
    t = lw.graph.tensors[tid]
    if t.data is not None:  # a constant PACK operand, read from flash
        return lw.const(f"op{i}_in{tid}", np.asarray(t.data, dtype=np.int8))
    return lw.buf(tid)


def _moves(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    m = moves_of(g, op)
    label = f"{op.kind.value} {op.name}"
    for pos in m.filled:
        y = g.tensors[op.outputs[pos]]
        lw.emit(Call("mcuf_fill_s8", (Literal(str(y.size)), Literal(str(quant_of(y).single_zero_point)),
                                      lw.buf(op.outputs[pos])), comment=label, op_index=i))
    for k, raw in enumerate(m.copies):
        c = canonical(raw)
        if c.size == 0:
            continue
        r = len(c.counts)
        assert r <= MAX_COPY_DIMS, f"{label}: a copy of {r} dimensions"
        name = f"op{i}_copy{k}"
        lw.const(name, np.array([*c.counts, *c.src_strides, *c.dst_strides], dtype=np.int32))
        p = params(rank=r, counts=ConstRef(name), src_strides=ConstRef(name, r),
                   dst_strides=ConstRef(name, 2 * r), src_offset=c.src_offset,
                   dst_offset=c.dst_offset)
        lw.emit(Call("mcuf_strided_copy_s8", (_operand(lw, i, op.inputs[c.src]),
                                              lw.buf(op.outputs[c.dst])),
                     "mcuf_copy_params", p, label, i))


for _kind in MOVES:
    register(_kind)(_moves)


# ---- resizes ----------------------------------------------------------------------------------------


def _c_div(a: int, b: int) -> int:
    """C's integer division (truncating toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def nearest_indices(in_size: int, out_size: int, a: ResizeAttrs) -> list[int]:
    """TFLite's GetNearestNeighbor for every output index, in float32 as the reference kernel."""
    f = np.float32
    if a.align_corners and out_size > 1:
        scale = f(in_size - 1) / f(out_size - 1)
    else:
        scale = f(in_size) / f(out_size)
    offset = f(0.5) if a.half_pixel_centers else f(0.0)
    out = []
    for v in range(out_size):
        pos = (f(v) + offset) * scale
        if a.align_corners:  # TfLiteRound (std::round): halves away from zero
            whole = math.floor(abs(float(pos)))
            rounded = int(math.copysign(whole + (abs(float(pos)) - whole >= 0.5), float(pos)))
        else:
            rounded = int(np.floor(pos))
        idx = min(rounded, in_size - 1)
        if a.half_pixel_centers:
            idx = max(0, idx)
        out.append(idx)
    return out


def bilinear_table(in_size: int, out_size: int, a: ResizeAttrs) -> list[int]:
    """(lower, upper, weight in 1/1024) per output index: TFLite's ResizeBilinearInteger scale and
    ComputeInterpolationValuesInteger."""
    scale = _c_div((1 << 10) * in_size + out_size // 2, out_size)
    if a.align_corners and out_size > 1:
        scale = _c_div((1 << 10) * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    out = []
    for v in range(out_size):
        value = v * scale + scale // 2 - (1 << 9) if a.half_pixel_centers else v * scale
        lower = max(_c_div(value, 1 << 10), 0)
        upper = min(_c_div(value + (1 << 10) - 1, 1 << 10), in_size - 1)
        out += [lower, upper, value - (1 << 10) * lower]
    return out


@register(OpKind.RESIZE_NEAREST_NEIGHBOR)
@register(OpKind.RESIZE_BILINEAR)
def _resize(lw: Lowering, i: int, op: Op) -> None:
    a = op.attrs
    assert isinstance(a, ResizeAttrs)
    g = lw.graph
    (b, ih, iw, c), (_, oh, ow, _) = g.tensors[op.inputs[0]].shape, g.tensors[op.outputs[0]].shape
    table = nearest_indices if op.kind is OpKind.RESIZE_NEAREST_NEIGHBOR else bilinear_table
    ys = lw.const(f"op{i}_ys", np.array(table(ih, oh, a), dtype=np.int32))
    xs = lw.const(f"op{i}_xs", np.array(table(iw, ow, a), dtype=np.int32))
    func = "mcuf_resize_nearest_s8" if op.kind is OpKind.RESIZE_NEAREST_NEIGHBOR else \
        "mcuf_resize_bilinear_s8"
    lw.emit(Call(func, (ys, xs, lw.buf(op.inputs[0]), lw.buf(op.outputs[0])), "mcuf_resize_params",
                 params(batches=b, in_h=ih, in_w=iw, out_h=oh, out_w=ow, c=c),
                 f"{op.kind.value} {op.name}", i))
