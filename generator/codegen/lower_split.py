"""Lowering of a partial-execution step program (:mod:`generator.plan.pex`) into kernel calls.

FULL steps go through the ordinary per-operator handlers. SLICE steps call the same kernels on a channel
slice: a slice of a full tensor is addressed with a pointer offset and the tensor's pixel stride; a
chain's intermediate tensor lives in a dense slice buffer. Weights a slice reads are re-laid out at
compile time so that each slice reads one contiguous block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from generator.codegen import conv_fast as cf
from generator.codegen import dw_fast
from generator.codegen.context import (
    Lowering,
    conv_cols,
    conv_fast_refs,
    conv_finish_refs,
    conv_is_fast,
    conv_params,
    dwconv_params,
    io_spec,
    params,
    per_channel_refs,
    pool_params,
    stacked_const,
    weighted_constants,
)
from generator.codegen.handlers import HANDLERS
from generator.codegen.lower_eltwise import Operand, emit_eltwise, mean_params
from generator.codegen.lower_fc import lower_fc_in_slice, lower_fc_out_slice, lower_fc_requant
from generator.codegen.lower_unary import table_of
from generator.codegen.schedule import BufRef, Call, ConstRef, Literal, Schedule
from generator.errors import McuforgeError
from generator.ir import DType, Graph, Op, OpKind, PadAttrs
from generator.numerics import Numerics
from generator.plan.pex import (
    Chain,
    Program,
    Step,
    StepKind,
    acc_buffer,
    base_channels,
    channels,
    in_multiplier,
    inplace_form,
    inplace_tmp_bytes,
    out_multiplier,
    pw_block,
    slice_buffer,
    slice_ranges,
    tmp_buffer,
)
from generator.plan.relations import TABLE_KINDS


@dataclass(frozen=True)
class View:
    """Where a slice of a tensor lives: a buffer reference, its channel count and pixel stride."""

    ref: BufRef
    c: int
    cs: int


@dataclass(frozen=True)
class SliceCtx:
    chain: Chain
    split_index: int
    slices: int
    lo: int
    hi: int


def lower_program(program: Program, numerics: Numerics = Numerics.TFLM) -> Schedule:
    g = program.graph
    lw = Lowering(g, numerics=numerics, cols=program.cols)
    for tid in program.alias:
        lw.alias(tid, program.root(tid))
    for tid in g.inputs:
        lw.buf(tid)
    for step in program.steps:
        _lower_step(lw, program, step)
    return Schedule(
        calls=tuple(lw.calls),
        buffers=dict(lw.buffers),
        consts=dict(lw.consts),
        inputs=tuple(io_spec(lw, t) for t in g.inputs),
        outputs=tuple(io_spec(lw, t) for t in g.outputs),
        tensor_buffers=dict(lw.tensor_buffer),
    )


def _lower_step(lw: Lowering, program: Program, step: Step) -> None:
    g = program.graph
    op = g.ops[step.op]
    if step.kind is StepKind.FULL and step.op in program.inplace:
        _inplace(lw, step.op, op, program.inplace[step.op])
        return
    if step.kind is StepKind.FULL:
        handler = HANDLERS.get(op.kind)
        if handler is None:
            raise McuforgeError(f"no lowering for {op.kind.value} '{op.name}'")
        handler(lw, step.op, op)
        return
    split = program.splits[step.split]
    if step.kind is StepKind.ZERO:
        acc = _acc_ref(lw, step.op)
        lw.emit(Call("mcuf_zero_s32", (Literal(str(g.tensors[op.outputs[0]].size)), acc),
                     comment=f"clear accumulator of {op.name}", op_index=step.op))
    elif step.kind is StepKind.REQUANT:
        _requant(lw, step.op, op)
    else:
        ctx = SliceCtx(split.chain, step.split, split.slices, *step.base)
        SLICE_HANDLERS[op.kind](lw, step.op, op, ctx)


# ---- views ------------------------------------------------------------------------------------------


def _acc_ref(lw: Lowering, op_index: int) -> BufRef:
    name = acc_buffer(op_index)
    if name not in lw.buffers:
        from generator.codegen.schedule import BufferSpec

        out = lw.graph.tensors[lw.graph.ops[op_index].outputs[0]]
        lw.buffers[name] = BufferSpec(name, out.size * 4, DType.INT32)
    return BufRef(name, 0, "int32_t")


def _slice_ref(lw: Lowering, tid: int, widest_bytes: int) -> BufRef:
    name = slice_buffer(tid)
    from generator.codegen.schedule import BufferSpec

    t = lw.graph.tensors[tid]
    spec = lw.buffers.get(name)
    if spec is None or spec.nbytes < widest_bytes:
        lw.buffers[name] = BufferSpec(name, widest_bytes, t.dtype, tid)
    return BufRef(name, 0, t.dtype.c_type)


def _widest(g: Graph, ctx: SliceCtx) -> int:
    return max(hi - lo for lo, hi in slice_ranges(base_channels(g, ctx.chain), ctx.slices))


def in_view(lw: Lowering, i: int, op: Op, ctx: SliceCtx, tid: int) -> View:
    """The chain input ``tid`` of op ``i`` for this slice."""
    g = lw.graph
    m = in_multiplier(g, ctx.chain, i)
    c = (ctx.hi - ctx.lo) * m
    if i > ctx.chain.start and g.producer(tid) == i - 1:
        bpc = g.tensors[tid].nbytes // channels(g, tid)
        return View(_slice_ref(lw, tid, bpc * _widest(g, ctx) * m), c, c)
    full_c = channels(g, tid)
    item = g.tensors[tid].dtype.itemsize
    return View(lw.buf(tid, ctx.lo * m * item), c, full_c)


def out_view(lw: Lowering, i: int, op: Op, ctx: SliceCtx) -> View:
    g = lw.graph
    tid = op.outputs[0]
    m = out_multiplier(g, ctx.chain, i)
    c = (ctx.hi - ctx.lo) * m
    if i < ctx.chain.end:
        bpc = g.tensors[tid].nbytes // channels(g, tid)
        return View(_slice_ref(lw, tid, bpc * _widest(g, ctx) * m), c, c)
    return View(lw.buf(tid, ctx.lo * m * g.tensors[tid].dtype.itemsize), c, channels(g, tid))


# ---- weight re-layout ------------------------------------------------------------------------------


def _slice_index(g: Graph, ctx: SliceCtx) -> int:
    return slice_ranges(base_channels(g, ctx.chain), ctx.slices).index((ctx.lo, ctx.hi))


# ---- slice handlers --------------------------------------------------------------------------------


def _conv_slice(lw: Lowering, i: int, op: Op, ctx: SliceCtx) -> None:
    g = lw.graph
    k = weighted_constants(g, op)
    ranges = slice_ranges(base_channels(g, ctx.chain), ctx.slices)
    fast = conv_is_fast(lw, i, op)
    if i == ctx.chain.start:  # producer: output channels lo..hi from the full input
        cin = channels(g, op.inputs[0])
        out = out_view(lw, i, op, ctx)
        p = conv_params(g, op, cin, cin, out.c, out.cs)
        if not fast and not cf.borrows_output(g, op, cin, out.c, out.cs):
            w = lw.const(f"op{i}_w", k.weights)
            per_oc = int(np.prod(k.weights.shape[1:]))
            lw.emit(Call("mcuf_conv2d_s8", (lw.buf(op.inputs[0]), ConstRef(w.name, ctx.lo * per_oc),
                                             *per_channel_refs(lw, i, k, ctx.lo), out.ref),
                         "mcuf_conv_params", params(**p),
                         f"CONV_2D {op.name} [out {ctx.lo}:{ctx.hi}]", i))
            return
        blocks = cf.slice_filters(k.weights, ranges, 0)
        w = stacked_const(lw, f"op{i}_wf_s{ctx.slices}", blocks)[_slice_index(g, ctx)]
        lw.emit(Call("mcuf_conv2d_fast_s8", (lw.buf(op.inputs[0]), w,
                                              *conv_fast_refs(lw, i, k, p["in_offset"], ctx.lo),
                                              out.ref, conv_cols(lw, i, op, cin)),
                     "mcuf_conv_params", params(**p), f"CONV_2D {op.name} [out {ctx.lo}:{ctx.hi}]", i))
        return
    src = in_view(lw, i, op, ctx, op.inputs[0])
    m = in_multiplier(g, ctx.chain, i)
    cout = channels(g, op.outputs[0])
    p = conv_params(g, op, src.c, src.cs, cout, cout)
    comment = f"CONV_2D {op.name} [in {ctx.lo * m}:{ctx.hi * m}]"
    if not fast:
        blocks8 = [k.weights[..., lo * m : hi * m] for lo, hi in ranges]
        w8 = stacked_const(lw, f"op{i}_w_s{ctx.slices}", blocks8)[_slice_index(g, ctx)]
        lw.emit(Call("mcuf_conv2d_s8_acc", (src.ref, w8, _acc_ref(lw, i)), "mcuf_conv_params",
                     params(**p), comment, i))
        return
    blocks = cf.slice_filters(k.weights, [(lo * m, hi * m) for lo, hi in ranges], 3)
    w = stacked_const(lw, f"op{i}_wf_s{ctx.slices}", blocks)[_slice_index(g, ctx)]
    cols = conv_cols(lw, i, op, _widest(g, ctx) * m)
    lw.emit(Call("mcuf_conv2d_fast_s8_acc", (src.ref, w, _acc_ref(lw, i), cols), "mcuf_conv_params",
                 params(**p), comment, i))


def _fc_slice(lw: Lowering, i: int, op: Op, ctx: SliceCtx) -> None:
    g = lw.graph
    ranges = slice_ranges(base_channels(g, ctx.chain), ctx.slices)
    index = _slice_index(g, ctx)
    if i == ctx.chain.start:
        lower_fc_out_slice(lw, i, op, ranges, index, out_view(lw, i, op, ctx).ref)
        return
    src = in_view(lw, i, op, ctx, op.inputs[0])
    m = in_multiplier(g, ctx.chain, i)
    lower_fc_in_slice(lw, i, op, [(lo * m, hi * m) for lo, hi in ranges], index, src.ref,
                      _acc_ref(lw, i))


def _requant(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    k = weighted_constants(g, op)
    out_t = g.tensors[op.outputs[0]]
    cout = channels(g, op.outputs[0])
    n = Literal(str(out_t.size // cout))
    if op.kind is OpKind.FULLY_CONNECTED:
        lower_fc_requant(lw, i, op, _acc_ref(lw, i), lw.buf(op.outputs[0]))
        return
    p = conv_params(g, op, 1, 1, cout, cout)
    if conv_is_fast(lw, i, op):  # the fast kernel's sums: the input offset in the bias
        bias_ref, mult, shift = conv_finish_refs(lw, i, k, p["in_offset"])
    else:
        bias_ref, mult, shift = per_channel_refs(lw, i, k, 0)
    lw.emit(Call("mcuf_requant_s32", (
        n, Literal(str(cout)), _acc_ref(lw, i), bias_ref, mult, shift,
        Literal(str(p["out_offset"])), Literal(str(p["act_min"])), Literal(str(p["act_max"])),
        lw.buf(op.outputs[0]), Literal(str(cout))), comment=f"requantise {op.name}", op_index=i))


def _dw_slice(lw: Lowering, i: int, op: Op, ctx: SliceCtx) -> None:
    g = lw.graph
    k = weighted_constants(g, op)
    src = in_view(lw, i, op, ctx, op.inputs[0])
    out = out_view(lw, i, op, ctx)
    p = dwconv_params(g, op, src.c, src.cs, out.cs)
    m_out = out_multiplier(g, ctx.chain, i)
    ranges = slice_ranges(base_channels(g, ctx.chain), ctx.slices)
    comment = f"DEPTHWISE_CONV_2D {op.name} [{ctx.lo * m_out}:{ctx.hi * m_out}]"
    fast = dw_fast.fast_call(lw, i, k, p, src.ref, out.ref,
                             [(lo * m_out, hi * m_out) for lo, hi in ranges],
                             _slice_index(g, ctx), comment)
    if fast is not None:
        lw.emit(fast)
        return
    w3 = k.weights.reshape(k.weights.shape[1], k.weights.shape[2], -1)
    blocks = [w3[:, :, lo * m_out : hi * m_out] for lo, hi in ranges]
    w = stacked_const(lw, f"op{i}_w_s{ctx.slices}", blocks)[_slice_index(g, ctx)]
    lw.emit(Call("mcuf_dwconv2d_s8", (src.ref, w, *per_channel_refs(lw, i, k, ctx.lo * m_out), out.ref),
                 "mcuf_dwconv_params", params(**p),
                 f"DEPTHWISE_CONV_2D {op.name} [{ctx.lo * m_out}:{ctx.hi * m_out}]", i))


def _pool_slice(lw: Lowering, i: int, op: Op, ctx: SliceCtx) -> None:
    g = lw.graph
    src = in_view(lw, i, op, ctx, op.inputs[0])
    out = out_view(lw, i, op, ctx)
    func = "mcuf_avgpool_s8" if op.kind is OpKind.AVERAGE_POOL_2D else "mcuf_maxpool_s8"
    lw.emit(Call(func, (src.ref, out.ref), "mcuf_pool_params",
                 params(**pool_params(g, op, src.c, src.cs, out.cs)),
                 f"{op.kind.value} {op.name} [{ctx.lo}:{ctx.hi}]", i))


def _pad_slice(lw: Lowering, i: int, op: Op, ctx: SliceCtx) -> None:
    g = lw.graph
    a = op.attrs
    assert isinstance(a, PadAttrs)
    src = in_view(lw, i, op, ctx, op.inputs[0])
    out = out_view(lw, i, op, ctx)
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    pads = a.paddings
    zp = y.quant.single_zero_point if y.quant else 0
    p = dict(in_h=x.shape[1], in_w=x.shape[2], in_c=src.c, in_cs=src.cs, pad_top=pads[1][0],
             pad_bottom=pads[1][1], pad_left=pads[2][0], pad_right=pads[2][1], pad_c_before=0,
             pad_c_after=0, out_cs=out.cs, pad_value=zp)
    lw.emit(Call("mcuf_pad_s8", (src.ref, out.ref), "mcuf_pad_params", params(**p),
                 f"PAD {op.name} [{ctx.lo}:{ctx.hi}]", i))


def _mean_slice(lw: Lowering, i: int, op: Op, ctx: SliceCtx) -> None:
    src = in_view(lw, i, op, ctx, op.inputs[0])
    out = out_view(lw, i, op, ctx)
    p = mean_params(lw.graph, op, src.c, src.cs, out.cs)
    lw.emit(Call("mcuf_mean_hw_s8", (src.ref, out.ref), "mcuf_mean_params", params(**p),
                 f"MEAN {op.name} [{ctx.lo}:{ctx.hi}]", i))


def _eltwise_slice(lw: Lowering, i: int, op: Op, ctx: SliceCtx) -> None:
    g = lw.graph
    a, b = (in_view(lw, i, op, ctx, t) for t in op.inputs[:2])
    out = out_view(lw, i, op, ctx)
    n = g.tensors[op.outputs[0]].size // channels(g, op.outputs[0])
    emit_eltwise(lw, i, op, Operand(a.ref, a.cs, 1), Operand(b.ref, b.cs, 1), out.ref, n, out.c,
                 out.cs, f" [{ctx.lo}:{ctx.hi}]")


def _table_slice(lw: Lowering, i: int, op: Op, ctx: SliceCtx) -> None:
    """A table operator (relations.TABLE_KINDS) on a channel slice: the lookup on strided rows."""
    g = lw.graph
    src = in_view(lw, i, op, ctx, op.inputs[0])
    out = out_view(lw, i, op, ctx)
    n = g.tensors[op.outputs[0]].size // channels(g, op.outputs[0])
    table = lw.const(f"op{i}_table", np.asarray(table_of(lw, op), dtype=np.int8))
    lw.emit(Call("mcuf_lut_rows_s8", (Literal(str(n)), Literal(str(out.c)), table, src.ref,
                                      Literal(str(src.cs)), out.ref, Literal(str(out.cs))),
                 comment=f"{op.kind.value} {op.name} [{ctx.lo}:{ctx.hi}]", op_index=i))


def _inplace(lw: Lowering, i: int, op: Op, param: int) -> None:
    """The output overwrites the input buffer (they share one, see pex.build_program)."""
    g = lw.graph
    k = weighted_constants(g, op)
    x, y = op.inputs[0], op.outputs[0]
    cin, cout = channels(g, x), channels(g, y)
    buf = lw.buf(x)
    tmp = lw.buf_named(tmp_buffer(i), inplace_tmp_bytes(g, op, param), DType.INT8)
    if inplace_form(g, op) == "pw":
        p = conv_params(g, op, cin, cin, cout, cout)
        w = lw.const(f"op{i}_wf", cf.fast_filter(k.weights))
        lw.emit(Call("mcuf_conv1x1_inplace_fast_s8", (
            buf, w, *conv_fast_refs(lw, i, k, p["in_offset"]), tmp, Literal(str(pw_block(g, op))),
            conv_cols(lw, i, op, cin)),
            "mcuf_conv_params", params(**p), f"CONV_2D {op.name} (in place)", i))
        return
    p = dwconv_params(g, op, cin, cin, cout)
    fast = dw_fast.fast_inplace_call(lw, i, k, p, buf, tmp, param,
                                     inplace_tmp_bytes(g, op, param),
                                     f"DEPTHWISE_CONV_2D {op.name} (in place)")
    if fast is not None:
        lw.emit(fast)
        return
    w3 = k.weights.reshape(k.weights.shape[1], k.weights.shape[2], -1)
    blocks = [w3[:, :, lo:hi] for lo, hi in slice_ranges(cout, param)]
    w = stacked_const(lw, f"op{i}_w_g{param}", blocks)[0]
    lw.emit(Call("mcuf_dwconv2d_inplace_s8", (buf, w, *per_channel_refs(lw, i, k, 0), tmp,
                                               Literal(str(param))),
                 "mcuf_dwconv_params", params(**p), f"DEPTHWISE_CONV_2D {op.name} (in place)", i))


SliceHandler = Callable[[Lowering, int, Op, SliceCtx], None]

SLICE_HANDLERS: dict[OpKind, SliceHandler] = {
    OpKind.CONV_2D: _conv_slice,
    OpKind.FULLY_CONNECTED: _fc_slice,
    OpKind.DEPTHWISE_CONV_2D: _dw_slice,
    OpKind.AVERAGE_POOL_2D: _pool_slice,
    OpKind.MAX_POOL_2D: _pool_slice,
    OpKind.PAD: _pad_slice,
    OpKind.MEAN: _mean_slice,
    OpKind.ADD: _eltwise_slice,
    OpKind.SUB: _eltwise_slice,
    **dict.fromkeys(TABLE_KINDS, _table_slice),
}
