"""Lowering: each IR operator becomes one or more kernel calls of the C runtime.

Handlers are keyed by :class:`OpKind` (never by layer names). A handler receives the operator and the
:class:`Lowering` context, which knows where each tensor lives and collects constant arrays. The helpers
that build a kernel's parameters take explicit channel ranges and pixel strides so that the
partial-execution schedule can reuse them for channel slices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from generator.codegen import conv_fast as cf
from generator.codegen import dw_fast
from generator.codegen import qparams as qp
from generator.codegen.schedule import (
    Arg,
    BufferSpec,
    BufRef,
    Call,
    Const,
    ConstRef,
    IOSpec,
    Literal,
    ParamValue,
    Schedule,
)
from generator.errors import UnsupportedOpsError
from generator.ir import (
    Activation,
    ConcatAttrs,
    Conv2DAttrs,
    DepthwiseConv2DAttrs,
    DType,
    FullyConnectedAttrs,
    Graph,
    Op,
    OpKind,
    Padding,
    Pool2DAttrs,
    QuantParams,
    Tensor,
)
from generator.numerics import Numerics

NULL = Literal("NULL")


@dataclass
class Lowering:
    """Mutable context of one lowering run (local to :func:`lower_graph`)."""

    graph: Graph
    calls: list[Call] = field(default_factory=list)
    consts: dict[str, Const] = field(default_factory=dict)
    buffers: dict[str, BufferSpec] = field(default_factory=dict)
    tensor_buffer: dict[int, str] = field(default_factory=dict)
    numerics: Numerics = Numerics.TFLM
    cols: frozenset[int] = frozenset()  # CONV_2D ops the plan grants column scratch

    def buf(self, tid: int, offset: int = 0) -> BufRef:
        t = self.graph.tensors[tid]
        name = self.tensor_buffer.get(tid)
        if name is None:
            name = f"t{tid}"
            self.tensor_buffer[tid] = name
            self.buffers[name] = BufferSpec(name, t.nbytes, t.dtype, tid)
        return BufRef(name, offset, t.dtype.c_type)

    def buf_named(self, name: str, nbytes: int, dtype: DType) -> BufRef:
        """A scratch buffer that belongs to no tensor."""
        self.buffers[name] = BufferSpec(name, nbytes, dtype)
        return BufRef(name, 0, dtype.c_type)

    def alias(self, dst: int, src: int) -> None:
        self.tensor_buffer[dst] = self.buf(src).buffer

    def const(self, name: str, data: npt.NDArray[np.generic]) -> ConstRef:
        arr = np.ascontiguousarray(data)
        arr.setflags(write=False)
        self.consts[name] = Const(name, arr)
        return ConstRef(name)

    def emit(self, call: Call) -> None:
        self.calls.append(call)


def _q(t: Tensor) -> QuantParams:
    if t.quant is None:
        raise UnsupportedOpsError(
            f"tensor '{t.name}' is not quantised", "quantize the model to full int8"
        )
    return t.quant


def _params(**kw: ParamValue) -> tuple[tuple[str, ParamValue], ...]:
    return tuple(kw.items())


def _hwc(t: Tensor) -> tuple[int, int, int]:
    s = t.shape
    if len(s) != 4 or s[0] != 1:
        raise UnsupportedOpsError(
            f"tensor '{t.name}' has shape {s}; feature maps must be [1, H, W, C]",
            "use batch size 1 and 2-D feature maps",
        )
    return s[1], s[2], s[3]


def _act(act: Activation, t: Tensor, op: Op) -> tuple[int, int]:
    if act is Activation.TANH:
        raise UnsupportedOpsError(f"{op.kind.value} '{op.name}' has a fused TANH", "use ReLU/ReLU6")
    q = _q(t)
    return qp.activation_range(act, q.single_scale, q.single_zero_point)


def _pads(padding: Padding, in_size: int, k: int, stride: int, dil: int, out_size: int) -> int:
    if padding is Padding.VALID:
        return 0
    return qp.same_padding(in_size, k, stride, dil)[1]


# ---- requantisation constants shared by the weighted ops -------------------------------------------


@dataclass(frozen=True)
class Weighted:
    """The constants of a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED op, in TFLite layouts."""

    weights: npt.NDArray[np.int8]
    bias: npt.NDArray[np.int32] | None
    mult: npt.NDArray[np.int32]
    shift: npt.NDArray[np.int32]


def stacked_const(lw: Lowering, name: str,
                  blocks: Sequence[npt.NDArray[np.generic]]) -> list[ConstRef]:
    """Per-slice blocks (weights in any kernel's layout) back to back in one constant array
    ``name``, stored once; one reference per block, in order."""
    if name not in lw.consts:
        lw.const(name, np.concatenate([b.reshape(-1) for b in blocks]))
    refs, offset = [], 0
    for b in blocks:
        refs.append(ConstRef(name, offset))
        offset += int(b.size)
    return refs


def weighted_constants(g: Graph, op: Op) -> Weighted:
    x, w = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
    y = g.tensors[op.outputs[0]]
    has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
    bias = g.tensors[op.inputs[2]].data if has_bias else None
    if w.data is None or (has_bias and bias is None):
        raise UnsupportedOpsError(
            f"{op.kind.value} '{op.name}' has non-constant weights", "weights must be constants"
        )
    if w.dtype is not DType.INT8:
        raise UnsupportedOpsError(
            f"{op.kind.value} '{op.name}' has {w.dtype.value} weights", "quantize weights to int8"
        )
    n_out = w.shape[-1] if op.kind is OpKind.DEPTHWISE_CONV_2D else w.shape[0]
    scales = _q(w).scale
    if len(scales) == 1:
        scales = scales * n_out
    mult, shift = qp.conv_multipliers(_q(x).single_scale, scales, _q(y).single_scale)
    return Weighted(
        weights=np.asarray(w.data, dtype=np.int8),
        bias=None if bias is None else np.asarray(bias, dtype=np.int32).reshape(-1),
        mult=np.asarray(mult, dtype=np.int32),
        shift=np.asarray(shift, dtype=np.int32),
    )


def conv_params(g: Graph, op: Op, in_c: int, in_cs: int, out_c: int, out_cs: int) -> dict[str, int]:
    """mcuf_conv_params for ``op`` reading ``in_c`` channels and writing ``out_c`` channels."""
    a = op.attrs
    assert isinstance(a, Conv2DAttrs)
    x, w, y = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    (ih, iw, _), (oh, ow, _) = _hwc(x), _hwc(y)
    kh, kw = w.shape[1], w.shape[2]
    lo, hi = _act(a.activation, y, op)
    return dict(
        in_h=ih, in_w=iw, in_c=in_c, in_cs=in_cs, out_h=oh, out_w=ow, out_c=out_c, out_cs=out_cs,
        k_h=kh, k_w=kw, stride_h=a.stride_h, stride_w=a.stride_w,
        dil_h=a.dilation_h, dil_w=a.dilation_w,
        pad_top=_pads(a.padding, ih, kh, a.stride_h, a.dilation_h, oh),
        pad_left=_pads(a.padding, iw, kw, a.stride_w, a.dilation_w, ow),
        in_offset=-_q(x).single_zero_point, out_offset=_q(y).single_zero_point,
        act_min=lo, act_max=hi,
    )


def dwconv_params(g: Graph, op: Op, in_c: int, in_cs: int, out_cs: int) -> dict[str, int]:
    a = op.attrs
    assert isinstance(a, DepthwiseConv2DAttrs)
    x, w, y = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    (ih, iw, ic), (oh, ow, oc) = _hwc(x), _hwc(y)
    kh, kw = w.shape[1], w.shape[2]
    dm = oc // ic
    lo, hi = _act(a.activation, y, op)
    return dict(
        in_h=ih, in_w=iw, in_c=in_c, in_cs=in_cs, out_h=oh, out_w=ow, out_c=in_c * dm,
        out_cs=out_cs, k_h=kh, k_w=kw, stride_h=a.stride_h, stride_w=a.stride_w,
        dil_h=a.dilation_h, dil_w=a.dilation_w,
        pad_top=_pads(a.padding, ih, kh, a.stride_h, a.dilation_h, oh),
        pad_left=_pads(a.padding, iw, kw, a.stride_w, a.dilation_w, ow),
        depth_mult=dm, in_offset=-_q(x).single_zero_point, out_offset=_q(y).single_zero_point,
        act_min=lo, act_max=hi,
    )


def fc_params(g: Graph, op: Op, in_n: int, out_n: int) -> dict[str, int]:
    a = op.attrs
    assert isinstance(a, FullyConnectedAttrs)
    x, w, y = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    lo, hi = _act(a.activation, y, op)
    return dict(
        batches=x.size // w.shape[1], in_n=in_n, out_n=out_n,
        in_offset=-_q(x).single_zero_point, out_offset=_q(y).single_zero_point,
        act_min=lo, act_max=hi, per_channel=int(_q(w).per_channel),
    )


# ---- handlers ---------------------------------------------------------------------------------------


def per_channel_refs(lw: Lowering, i: int, k: Weighted, lo: int = 0) -> list[Arg]:
    """bias, mult, shift references of op ``i``, starting at output channel ``lo``."""
    bias: Arg = NULL if k.bias is None else ConstRef(lw.const(f"op{i}_bias", k.bias).name, lo)
    mult, shift = lw.const(f"op{i}_mult", k.mult), lw.const(f"op{i}_shift", k.shift)
    return [bias, ConstRef(mult.name, lo), ConstRef(shift.name, lo)]


def _weighted_consts(lw: Lowering, i: int, k: Weighted, weights: npt.NDArray[np.int8]) -> list[Arg]:
    if k.bias is not None:  # the bias array is declared first in the generated C
        lw.const(f"op{i}_bias", k.bias)
    w = lw.const(f"op{i}_w", weights)
    return [w, *per_channel_refs(lw, i, k)]


def conv_fast_refs(lw: Lowering, i: int, k: Weighted, in_offset: int,
                   lo: int = 0) -> list[Arg]:
    """Folded bias and requantisation records of CONV_2D op ``i`` from output channel ``lo``."""
    bf = cf.folded_bias(k.weights, k.bias, in_offset)
    bias = lw.const(f"op{i}_bf", bf)
    rq = lw.const(f"op{i}_rq", cf.requant_records(k.weights, bf, k.mult, k.shift))
    return [ConstRef(bias.name, lo), ConstRef(rq.name, 2 * lo)]


def conv_finish_refs(lw: Lowering, i: int, k: Weighted, in_offset: int) -> list[Arg]:
    """Folded bias, mult and shift of CONV_2D op ``i``: what mcuf_requant_s32 needs to finish the
    sums of the fast accumulating kernel."""
    bias = lw.const(f"op{i}_bf", cf.folded_bias(k.weights, k.bias, in_offset))
    mult, shift = lw.const(f"op{i}_mult", k.mult), lw.const(f"op{i}_shift", k.shift)
    return [bias, mult, shift]


def conv_is_fast(lw: Lowering, i: int, op: Op) -> bool:
    """Whether CONV_2D op ``i`` runs the fast kernels: with the column scratch the plan granted
    it, or without scratch where the kernel reads its input pixels directly (1x1, stride 1)."""
    return i in lw.cols or cf.reads_directly(lw.graph, op)


def conv_cols(lw: Lowering, i: int, op: Op, in_c: int) -> Arg:
    """The column scratch of CONV_2D op ``i`` (sized for its widest call, as the planner counts),
    or NULL where the plan granted none."""
    if i not in lw.cols:
        return NULL
    name = cf.cols_buffer(i)
    size = cf.cols_bytes(lw.graph, op, in_c)
    spec = lw.buffers.get(name)
    if spec is None or spec.nbytes < size:
        lw.buffers[name] = BufferSpec(name, size, DType.INT32)
    return BufRef(name, 0, DType.INT32.c_type)


def _conv(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    k = weighted_constants(g, op)
    _, _, ic = _hwc(g.tensors[op.inputs[0]])
    _, _, oc = _hwc(g.tensors[op.outputs[0]])
    p = conv_params(g, op, ic, ic, oc, oc)
    if not conv_is_fast(lw, i, op) and not cf.borrows_output(g, op, ic, oc, oc):
        plain = (lw.buf(op.inputs[0]), *_weighted_consts(lw, i, k, k.weights), lw.buf(op.outputs[0]))
        lw.emit(Call("mcuf_conv2d_s8", plain, "mcuf_conv_params", _params(**p),
                     f"CONV_2D {op.name}", i))
        return
    wf = lw.const(f"op{i}_wf", cf.fast_filter(k.weights))
    args = (lw.buf(op.inputs[0]), wf, *conv_fast_refs(lw, i, k, p["in_offset"]),
            lw.buf(op.outputs[0]), conv_cols(lw, i, op, ic))
    lw.emit(Call("mcuf_conv2d_fast_s8", args, "mcuf_conv_params", _params(**p),
                 f"CONV_2D {op.name}", i))


def _dwconv(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    k = weighted_constants(g, op)
    _, _, ic = _hwc(g.tensors[op.inputs[0]])
    _, _, oc = _hwc(g.tensors[op.outputs[0]])
    p = dwconv_params(g, op, ic, ic, oc)
    fast = dw_fast.fast_call(lw, i, k, p, lw.buf(op.inputs[0]), lw.buf(op.outputs[0]), [(0, oc)],
                             0, f"DEPTHWISE_CONV_2D {op.name}")
    if fast is not None:
        lw.emit(fast)
        return
    weights = k.weights.reshape(k.weights.shape[1], k.weights.shape[2], oc)
    args = [lw.buf(op.inputs[0]), *_weighted_consts(lw, i, k, weights), lw.buf(op.outputs[0])]
    lw.emit(Call("mcuf_dwconv2d_s8", tuple(args), "mcuf_dwconv_params", _params(**p),
                 f"DEPTHWISE_CONV_2D {op.name}", i))


def fc_scales(g: Graph, op: Op) -> npt.NDArray[np.float64]:
    """Per output: in_scale * filter_scale / out_scale in double, in TFLite's reference order.

    TFLite's reference FULLY_CONNECTED rescales in double precision (not with the fixed-point
    multiplier its optimised kernels use); these are the exact doubles it multiplies by."""
    x, w, y = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    out_n = w.shape[0]
    scales = _q(w).scale if _q(w).per_channel else _q(w).scale * out_n
    sx, sy = float(np.float32(_q(x).single_scale)), float(np.float32(_q(y).single_scale))
    return np.array([sx * float(np.float32(s)) / sy for s in scales], dtype=np.float64)


def _fc(lw: Lowering, i: int, op: Op) -> None:
    from generator.codegen.lower_fc import lower_fc

    lower_fc(lw, i, op)


def pool_params(g: Graph, op: Op, c: int, in_cs: int, out_cs: int) -> dict[str, int]:
    a = op.attrs
    assert isinstance(a, Pool2DAttrs)
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    (ih, iw, _), (oh, ow, _) = _hwc(x), _hwc(y)
    lo, hi = _act(a.activation, y, op)
    return dict(
        in_h=ih, in_w=iw, c=c, in_cs=in_cs, out_h=oh, out_w=ow, out_cs=out_cs,
        k_h=a.filter_h, k_w=a.filter_w, stride_h=a.stride_h, stride_w=a.stride_w,
        pad_top=_pads(a.padding, ih, a.filter_h, a.stride_h, 1, oh),
        pad_left=_pads(a.padding, iw, a.filter_w, a.stride_w, 1, ow),
        act_min=lo, act_max=hi,
    )


def _pool(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    _, _, c = _hwc(g.tensors[op.inputs[0]])
    func = "mcuf_avgpool_s8" if op.kind is OpKind.AVERAGE_POOL_2D else "mcuf_maxpool_s8"
    lw.emit(Call(func, (lw.buf(op.inputs[0]), lw.buf(op.outputs[0])), "mcuf_pool_params",
                 _params(**pool_params(g, op, c, c, c)), f"{op.kind.value} {op.name}", i))


def _pad(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    from generator.ir import PadAttrs

    a = op.attrs
    assert isinstance(a, PadAttrs)
    pads = list(a.paddings)
    if len(x.shape) != 4 or len(pads) != 4 or pads[0] != (0, 0):
        raise UnsupportedOpsError(
            f"PAD '{op.name}' pads {pads} on shape {x.shape}", "only H, W and C padding of 4-D maps"
        )
    ih, iw, ic = _hwc(x)
    _, _, oc = _hwc(y)
    p = dict(in_h=ih, in_w=iw, in_c=ic, in_cs=ic, pad_top=pads[1][0], pad_bottom=pads[1][1],
             pad_left=pads[2][0], pad_right=pads[2][1], pad_c_before=pads[3][0],
             pad_c_after=pads[3][1], out_cs=oc, pad_value=_q(y).single_zero_point)
    lw.emit(Call("mcuf_pad_s8", (lw.buf(op.inputs[0]), lw.buf(op.outputs[0])), "mcuf_pad_params",
                 _params(**p), f"PAD {op.name}", i))


def _reshape(lw: Lowering, i: int, op: Op) -> None:
    lw.alias(op.outputs[0], op.inputs[0])


def _concat(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    a = op.attrs
    assert isinstance(a, ConcatAttrs)
    if a.activation is not Activation.NONE:
        raise UnsupportedOpsError(f"CONCATENATION '{op.name}' has a fused activation", "")
    y = g.tensors[op.outputs[0]]
    rows = int(np.prod(y.shape[: a.axis], dtype=np.int64))
    pitch = int(np.prod(y.shape[a.axis :], dtype=np.int64))
    qy = _q(y)
    col = 0
    for tid in op.inputs:
        x = g.tensors[tid]
        qx = _q(x)
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
                Literal(str(pitch)), Literal(_c_float(float(scale))), Literal(_c_float(float(bias))),
                Literal(str(qy.single_zero_point))), comment=f"CONCATENATION {op.name}", op_index=i))
        col += length


def _c_float(v: float) -> str:
    return f"{np.float32(v).item():.9g}f" if np.isfinite(v) else "0.0f"


def _quantize(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    qy = _q(y)
    if x.dtype is DType.FLOAT32:
        lw.emit(Call("mcuf_quantize_f32_s8", (
            Literal(str(x.size)), lw.buf(op.inputs[0]), Literal(_c_float(qy.single_scale)),
            Literal(str(qy.single_zero_point)), lw.buf(op.outputs[0])), comment=f"QUANTIZE {op.name}",
            op_index=i))
        return
    from generator.codegen import qparams_eltwise as qe

    rp = qe.requantize_params(_q(x).single_scale, _q(x).single_zero_point, qy.single_scale,
                              qy.single_zero_point)
    lw.emit(Call("mcuf_requantize_s8", (
        Literal(str(x.size)), lw.buf(op.inputs[0]), Literal(str(rp.in_zp)), Literal(str(rp.mult)),
        Literal(str(rp.shift)), Literal(str(rp.out_zp)), lw.buf(op.outputs[0])),
        comment=f"QUANTIZE {op.name}", op_index=i))


def _dequantize(lw: Lowering, i: int, op: Op) -> None:
    g = lw.graph
    x = g.tensors[op.inputs[0]]
    qx = _q(x)
    lw.emit(Call("mcuf_dequantize_s8_f32", (
        Literal(str(x.size)), lw.buf(op.inputs[0]), Literal(_c_float(qx.single_scale)),
        Literal(str(qx.single_zero_point)), lw.buf(op.outputs[0])), comment=f"DEQUANTIZE {op.name}",
        op_index=i))


Handler = Callable[[Lowering, int, Op], None]

HANDLERS: dict[OpKind, Handler] = {
    OpKind.CONV_2D: _conv,
    OpKind.DEPTHWISE_CONV_2D: _dwconv,
    OpKind.FULLY_CONNECTED: _fc,
    OpKind.AVERAGE_POOL_2D: _pool,
    OpKind.MAX_POOL_2D: _pool,
    OpKind.PAD: _pad,
    OpKind.RESHAPE: _reshape,
    OpKind.CONCATENATION: _concat,
    OpKind.QUANTIZE: _quantize,
    OpKind.DEQUANTIZE: _dequantize,
}


def register(kind: OpKind) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return deco


def io_spec(lw: Lowering, tid: int) -> IOSpec:
    t = lw.graph.tensors[tid]
    q = t.quant
    return IOSpec(lw.buf(tid).buffer, t.shape, t.dtype, q.single_scale if q else 1.0,
                  q.single_zero_point if q else 0, t.name)


def lower_graph(g: Graph) -> Schedule:
    """The unsplit schedule: one call (or a few) per operator, in graph order."""
    from generator.codegen.lower_split import lower_program
    from generator.plan.pex import build_program

    return lower_program(build_program(g))
