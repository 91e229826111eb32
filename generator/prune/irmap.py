"""From the planner's peak back to Keras channel groups.

The int8 IR is matched to the Keras model by content, not by names: every CONV_2D / FULLY_CONNECTED
operator's dequantised filters are compared with the kernels of the Keras layers of the same shape
(cosine similarity of each filter, in absolute value: the converter folds batch norms into the filters,
which rescales each one, possibly by a negative factor). Channel maps then follow the IR from its
inputs through depthwise convolutions, pooling, padding, adds, reshapes and concatenations, as the
Keras analysis does. Any operator that cannot be followed gets a placeholder group that is never
pruned, so an unusual conversion can only make pruning more conservative.

Attribution: each buffer live at a peak step of the step program (full tensors, channel-slice buffers,
int32 accumulators) is split between the groups of its tensor's channel map, in proportion to their
channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from generator.ir import ConcatAttrs, Graph, MeanAttrs, Op, OpKind
from generator.plan.arena import align_up
from generator.plan.pex import Program, acc_buffer, slice_buffer, tmp_buffer
from generator.prune.channels import ChannelGraph, ChannelMap, LayerNode, Role, Segment

MATCH_THRESHOLD = 0.9
FOLLOW = frozenset({
    OpKind.AVERAGE_POOL_2D, OpKind.MAX_POOL_2D, OpKind.PAD, OpKind.MEAN, OpKind.SOFTMAX,
    OpKind.LOGISTIC, OpKind.QUANTIZE, OpKind.DEQUANTIZE,
})
Rows = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class IrChannels:
    """Channel maps of the IR's activation tensors, in terms of the Keras channel groups."""

    maps: dict[int, ChannelMap]      # IR tensor id -> map
    sizes: dict[int, int]            # group sizes, including placeholders (negative ids)
    matched: dict[int, str]          # IR op index -> Keras layer name


@dataclass(frozen=True)
class PeakShare:
    """What is live at the steps of the planner's peak, by channel group."""

    peak: int
    steps: tuple[int, ...]
    ops: tuple[int, ...]
    by_group: tuple[dict[int, int], ...]   # per peak step: bytes of each prunable group
    fixed: tuple[int, ...]                 # per peak step: bytes no prunable group accounts for


# ---- matching operators to layers ------------------------------------------------------------------


def ir_filter_rows(g: Graph, op: Op) -> Rows | None:
    """Dequantised filters of a CONV_2D / FULLY_CONNECTED op, one row per output channel."""
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        return None
    w = g.tensors[op.inputs[1]]
    if w.data is None:
        return None
    data = np.asarray(w.data, np.float64)
    if w.quant is not None:
        shape = (-1,) + (1,) * (data.ndim - 1) if w.quant.per_channel else (1,)
        scale = np.asarray(w.quant.scale, np.float64).reshape(shape)
        zero = np.asarray(w.quant.zero_point, np.float64).reshape(shape)
        data = (data - zero) * scale
    return data.reshape(data.shape[0], -1)


def keras_filter_rows(node: LayerNode) -> Rows:
    """A Keras layer's filters in the IR's orientation: one row per output channel."""
    weights = node.layer.get_weights()
    kernel = np.asarray(weights[1] if node.role is Role.SEPARABLE else weights[0], np.float64)
    return np.moveaxis(kernel, -1, 0).reshape(kernel.shape[-1], -1)


def similarity(a: Rows, b: Rows) -> float:
    """Median over filters of |cosine similarity|; 0 for different shapes."""
    if a.shape != b.shape:
        return 0.0
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ok = (na > 0) & (nb > 0)
    if not ok.any():
        return 0.0
    cos = np.abs(np.sum(a[ok] * b[ok], axis=1)) / (na[ok] * nb[ok])
    return float(np.median(cos))


def match_ops(g: Graph, cg: ChannelGraph) -> dict[int, LayerNode]:
    """IR op index -> Keras layer call, for the channel-mixing ops, by filter content."""
    layers = [n for n in cg.nodes if n.role in (Role.MIXING, Role.SEPARABLE)]
    krows = [keras_filter_rows(n) for n in layers]
    pairs: list[tuple[float, int, int]] = []
    for i, op in enumerate(g.ops):
        if op.kind not in (OpKind.CONV_2D, OpKind.FULLY_CONNECTED):
            continue
        rows = ir_filter_rows(g, op)
        if rows is None:
            continue
        for j, kr in enumerate(krows):
            s = similarity(rows, kr)
            if s >= MATCH_THRESHOLD:
                pairs.append((s, i, j))
    out: dict[int, LayerNode] = {}
    used: set[int] = set()
    for _, i, j in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        if i not in out and j not in used:
            out[i] = layers[j]
            used.add(j)
    return out


# ---- following channels through the IR -------------------------------------------------------------


class _Follow:
    def __init__(self, g: Graph, cg: ChannelGraph) -> None:
        self.g = g
        self.cg = cg
        self.sizes = dict(cg.sizes)
        self.maps: dict[int, ChannelMap] = {}

    def fresh(self, tid: int) -> ChannelMap:
        gid = -1 - len([k for k in self.sizes if k < 0])
        self.sizes[gid] = _last(self.g, tid)
        return ChannelMap((Segment(gid),))

    def set(self, tid: int, m: ChannelMap | None) -> None:
        ok = m is not None and m.width(self.sizes) == _last(self.g, tid)
        self.maps[tid] = m if ok and m is not None else self.fresh(tid)

    def get(self, tid: int) -> ChannelMap:
        if tid not in self.maps:
            self.maps[tid] = self.fresh(tid)
        return self.maps[tid]


def _last(g: Graph, tid: int) -> int:
    shape = g.tensors[tid].shape
    return shape[-1] if shape else 1


def ir_channels(g: Graph, cg: ChannelGraph) -> IrChannels:
    matched = match_ops(g, cg)
    f = _Follow(g, cg)
    for tid in g.inputs:
        f.get(tid)
    for i, op in enumerate(g.ops):
        acts = [t for t in op.inputs if t >= 0 and not g.tensors[t].is_const]
        f.set(op.outputs[0], _out_map(f, op, acts, matched.get(i)))
    return IrChannels(f.maps, f.sizes, {i: n.layer.name for i, n in matched.items()})


def _out_map(f: _Follow, op: Op, acts: list[int], layer: LayerNode | None) -> ChannelMap | None:
    g = f.g
    out = op.outputs[0]
    if layer is not None:
        return f.cg.map_of(layer.outputs[0])
    if not acts:
        return None
    first = f.get(acts[0])
    if op.kind is OpKind.DEPTHWISE_CONV_2D:
        mult, rem = divmod(_last(g, out), _last(g, acts[0]))
        return first.scaled(mult) if rem == 0 and first.positions == 1 else None
    if op.kind in (OpKind.ADD, OpKind.MUL):
        wide = [t for t in acts if _last(g, t) == _last(g, out)]
        return f.get(wide[0]) if wide else None
    if op.kind is OpKind.MEAN and isinstance(op.attrs, MeanAttrs) and \
            len(g.tensors[acts[0]].shape) - 1 in op.attrs.axes:
        return None  # a mean over the channels keeps none of them
    if op.kind in FOLLOW:
        return first
    if op.kind is OpKind.RESHAPE:
        return _reshape(g, acts[0], out, first)
    if op.kind is OpKind.CONCATENATION and isinstance(op.attrs, ConcatAttrs):
        rank = len(g.tensors[out].shape)
        maps = [f.get(t) for t in acts]
        if op.attrs.axis in (-1, rank - 1) and all(m.positions == 1 for m in maps):
            return ChannelMap(tuple(s for m in maps for s in m.segments))
    return None


def _reshape(g: Graph, src: int, dst: int, m: ChannelMap) -> ChannelMap | None:
    a, b = g.tensors[src].shape, g.tensors[dst].shape
    if a and b and a[-1] == b[-1]:
        return m
    spatial = math.prod(a[1:-1]) if len(a) > 2 else 1
    if m.positions == 1 and len(b) == 2 and b[-1] == g.tensors[src].size:
        return ChannelMap(m.segments, spatial)
    return None


# ---- attribution -----------------------------------------------------------------------------------


def buffer_tensors(program: Program) -> dict[str, tuple[int, ...]]:
    """Buffer name of the step program -> the IR tensors it holds over its life, in the order they
    are written (several when operators run in place or a reshape aliases its input)."""
    g = program.graph

    def root(tid: int) -> int:
        while tid in program.alias:
            tid = program.alias[tid]
        return tid

    names: dict[str, list[int]] = {}
    for tid in range(len(g.tensors)):
        names.setdefault(f"t{root(tid)}", []).append(tid)   # full buffers: named by root tensor
        names[slice_buffer(tid)] = [tid]
    for i, op in enumerate(g.ops):
        names[acc_buffer(i)] = [op.outputs[0]]           # int32 accumulator of the op's output
        names[tmp_buffer(i)] = [op.outputs[0]]           # in-place scratch, sized by the output
    def written(t: int) -> int:
        producer = g.producer(t)
        return -1 if producer is None else producer

    return {k: tuple(sorted(v, key=written)) for k, v in names.items()}


def _holder(g: Graph, tensors: tuple[int, ...], op: int) -> int:
    """The tensor a shared buffer holds while operator ``op`` runs: the last one written by then."""
    held = tensors[0]
    for t in tensors:
        producer = g.producer(t)
        if producer is None or producer <= op:
            held = t
    return held


def peak_share(program: Program, irc: IrChannels, prunable: set[int]) -> PeakShare:
    """Bytes live at each peak step of ``program``, by channel group in ``prunable``."""
    live = program.step_live()
    peak = max(live, default=0)
    steps = tuple(i for i, v in enumerate(live) if v == peak)
    names = buffer_tensors(program)
    by_group: list[dict[int, int]] = []
    fixed: list[int] = []
    for s in steps:
        shares: dict[int, float] = {}
        total = 0
        for b in program.buffers:
            if not b.first <= s <= b.last:
                continue
            size = align_up(b.size)
            total += size
            held = names.get(b.name)
            tid = _holder(program.graph, held, program.steps[s].op) if held else None
            if tid is None or tid not in irc.maps:
                continue
            m = irc.maps[tid]
            width = sum(irc.sizes[seg.group] * seg.mult for seg in m.segments)
            for seg in m.segments:
                if seg.group in prunable and width:
                    part = size * irc.sizes[seg.group] * seg.mult / width
                    shares[seg.group] = shares.get(seg.group, 0.0) + part
        rounded = {k: round(v) for k, v in shares.items()}
        by_group.append(rounded)
        fixed.append(total - sum(rounded.values()))
    ops = tuple(sorted({program.steps[s].op for s in steps}))
    return PeakShare(peak, steps, ops, tuple(by_group), tuple(fixed))
