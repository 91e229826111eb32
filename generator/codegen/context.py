"""The lowering context: where each tensor lives, the constants collected so far, and the parameter
builders every operator's lowering shares (a kernel's parameters from explicit channel ranges and
pixel strides, so that the partial-execution schedule reuses them for channel slices).

Handlers are registered here by :class:`OpKind` (:func:`register`, never by layer names);
:mod:`generator.codegen.handlers` imports every module that registers one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from generator.codegen import conv_fast as cf
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
)
from generator.errors import UnsupportedOpsError
from generator.ir import (
    Activation,
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
    """Mutable context of one lowering run (local to :func:`generator.codegen.lower_split.lower_program`)."""

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


def quant_of(t: Tensor) -> QuantParams:
    if t.quant is None:
        raise UnsupportedOpsError(
            f"tensor '{t.name}' is not quantised", "quantize the model to full int8"
        )
    return t.quant


def params(**kw: ParamValue) -> tuple[tuple[str, ParamValue], ...]:
    return tuple(kw.items())


def hwc(t: Tensor) -> tuple[int, int, int]:
    s = t.shape
    if len(s) != 4 or s[0] != 1:
        raise UnsupportedOpsError(
            f"tensor '{t.name}' has shape {s}; feature maps must be [1, H, W, C]",
            "use batch size 1 and 2-D feature maps",
        )
    return s[1], s[2], s[3]


def act_range(act: Activation, t: Tensor, op: Op) -> tuple[int, int]:
    if act is Activation.TANH:
        raise UnsupportedOpsError(f"{op.kind.value} '{op.name}' has a fused TANH", "use ReLU/ReLU6")
    q = quant_of(t)
    return qp.activation_range(act, q.single_scale, q.single_zero_point)


def pad_before(padding: Padding, in_size: int, k: int, stride: int, dil: int, out_size: int) -> int:
    if padding is Padding.VALID:
        return 0
    return qp.same_padding(in_size, k, stride, dil)[1]


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
    scales = quant_of(w).scale
    if len(scales) == 1:
        scales = scales * n_out
    mult, shift = qp.conv_multipliers(quant_of(x).single_scale, scales, quant_of(y).single_scale)
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
    (ih, iw, _), (oh, ow, _) = hwc(x), hwc(y)
    kh, kw = w.shape[1], w.shape[2]
    lo, hi = act_range(a.activation, y, op)
    return dict(
        in_h=ih, in_w=iw, in_c=in_c, in_cs=in_cs, out_h=oh, out_w=ow, out_c=out_c, out_cs=out_cs,
        k_h=kh, k_w=kw, stride_h=a.stride_h, stride_w=a.stride_w,
        dil_h=a.dilation_h, dil_w=a.dilation_w,
        pad_top=pad_before(a.padding, ih, kh, a.stride_h, a.dilation_h, oh),
        pad_left=pad_before(a.padding, iw, kw, a.stride_w, a.dilation_w, ow),
        in_offset=-quant_of(x).single_zero_point, out_offset=quant_of(y).single_zero_point,
        act_min=lo, act_max=hi,
    )


def dwconv_params(g: Graph, op: Op, in_c: int, in_cs: int, out_cs: int) -> dict[str, int]:
    a = op.attrs
    assert isinstance(a, DepthwiseConv2DAttrs)
    x, w, y = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    (ih, iw, ic), (oh, ow, oc) = hwc(x), hwc(y)
    kh, kw = w.shape[1], w.shape[2]
    dm = oc // ic
    lo, hi = act_range(a.activation, y, op)
    return dict(
        in_h=ih, in_w=iw, in_c=in_c, in_cs=in_cs, out_h=oh, out_w=ow, out_c=in_c * dm,
        out_cs=out_cs, k_h=kh, k_w=kw, stride_h=a.stride_h, stride_w=a.stride_w,
        dil_h=a.dilation_h, dil_w=a.dilation_w,
        pad_top=pad_before(a.padding, ih, kh, a.stride_h, a.dilation_h, oh),
        pad_left=pad_before(a.padding, iw, kw, a.stride_w, a.dilation_w, ow),
        depth_mult=dm, in_offset=-quant_of(x).single_zero_point, out_offset=quant_of(y).single_zero_point,
        act_min=lo, act_max=hi,
    )


def fc_params(g: Graph, op: Op, in_n: int, out_n: int) -> dict[str, int]:
    a = op.attrs
    assert isinstance(a, FullyConnectedAttrs)
    x, w, y = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    lo, hi = act_range(a.activation, y, op)
    return dict(
        batches=x.size // w.shape[1], in_n=in_n, out_n=out_n,
        in_offset=-quant_of(x).single_zero_point, out_offset=quant_of(y).single_zero_point,
        act_min=lo, act_max=hi, per_channel=int(quant_of(w).per_channel),
    )


def per_channel_refs(lw: Lowering, i: int, k: Weighted, lo: int = 0) -> list[Arg]:
    """bias, mult, shift references of op ``i``, starting at output channel ``lo``."""
    bias: Arg = NULL if k.bias is None else ConstRef(lw.const(f"op{i}_bias", k.bias).name, lo)
    mult, shift = lw.const(f"op{i}_mult", k.mult), lw.const(f"op{i}_shift", k.shift)
    return [bias, ConstRef(mult.name, lo), ConstRef(shift.name, lo)]


def weighted_consts(lw: Lowering, i: int, k: Weighted, weights: npt.NDArray[np.int8]) -> list[Arg]:
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
    it, with columns on the stack where they are small, or without scratch where the kernel reads
    its input pixels directly (1x1, stride 1)."""
    g = lw.graph
    return (i in lw.cols or cf.reads_directly(g, op)
            or cf.cols_bytes(g, op, int(g.tensors[op.inputs[0]].shape[-1])) == 0)


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


def fc_scales(g: Graph, op: Op) -> npt.NDArray[np.float64]:
    """Per output: in_scale * filter_scale / out_scale in double, in TFLite's reference order.

    TFLite's reference FULLY_CONNECTED rescales in double precision (not with the fixed-point
    multiplier its optimised kernels use); these are the exact doubles it multiplies by."""
    x, w, y = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    out_n = w.shape[0]
    scales = quant_of(w).scale if quant_of(w).per_channel else quant_of(w).scale * out_n
    sx, sy = float(np.float32(quant_of(x).single_scale)), float(np.float32(quant_of(y).single_scale))
    return np.array([sx * float(np.float32(s)) / sy for s in scales], dtype=np.float64)


def pool_params(g: Graph, op: Op, c: int, in_cs: int, out_cs: int) -> dict[str, int]:
    a = op.attrs
    assert isinstance(a, Pool2DAttrs)
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    (ih, iw, _), (oh, ow, _) = hwc(x), hwc(y)
    lo, hi = act_range(a.activation, y, op)
    return dict(
        in_h=ih, in_w=iw, c=c, in_cs=in_cs, out_h=oh, out_w=ow, out_cs=out_cs,
        k_h=a.filter_h, k_w=a.filter_w, stride_h=a.stride_h, stride_w=a.stride_w,
        pad_top=pad_before(a.padding, ih, a.filter_h, a.stride_h, 1, oh),
        pad_left=pad_before(a.padding, iw, a.filter_w, a.stride_w, 1, ow),
        act_min=lo, act_max=hi,
    )


def c_float(v: float) -> str:
    return f"{np.float32(v).item():.9g}f" if np.isfinite(v) else "0.0f"


def io_spec(lw: Lowering, tid: int) -> IOSpec:
    t = lw.graph.tensors[tid]
    q = t.quant
    return IOSpec(lw.buf(tid).buffer, t.shape, t.dtype, q.single_scale if q else 1.0,
                  q.single_zero_point if q else 0, t.name)



# ---- the handler registry ----------------------------------------------------------------------------

Handler = Callable[["Lowering", int, Op], None]

HANDLERS: dict[OpKind, Handler] = {}
"""The lowering of each operator kind: filled by the modules :mod:`generator.codegen.handlers`
imports."""


def register(kind: OpKind) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        if kind in HANDLERS:
            raise RuntimeError(f"two lowerings registered for {kind.value}")
        HANDLERS[kind] = fn
        return fn

    return deco
