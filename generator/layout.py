"""What the data-movement operators compute, as strided copies between flat int8 buffers.

TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK, PACK, GATHER (constant indices), TILE,
DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND move values without
arithmetic: every output element is one input element (or, for SPACE_TO_BATCH_ND's padding, a fill
value). Each operator is described here once, from its input shapes and constant operands, as its
output shapes and a list of :class:`Copy` (an n-dimensional strided walk over one input and one
output); the import checks compare the output shapes with the file's, the lowering emits one kernel
call per copy. The index rules are TFLite Micro's (strided_slice_logic.h, reference kernels).

Every function raises :class:`~generator.importer.problems.Problem` (or ``Unsupported``) on
parameters TFLite refuses or mcuforge does not compute; nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from generator.importer.problems import Problem, Unsupported, need
from generator.ir import (
    BlockAttrs,
    DType,
    GatherAttrs,
    Graph,
    Op,
    OpKind,
    PackAttrs,
    SplitAttrs,
    StridedSliceAttrs,
    UnpackAttrs,
)

Shape = tuple[int, ...]
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class Copy:
    """``dst[dst_offset + sum(i_d * dst_strides[d])] = src[src_offset + sum(i_d * src_strides[d])]``
    for every index vector ``i`` below ``counts``; offsets and strides count elements. ``src`` is the
    operator's input position, ``dst`` its output position."""

    src: int
    dst: int
    counts: Shape
    src_strides: tuple[int, ...]
    dst_strides: tuple[int, ...]
    src_offset: int = 0
    dst_offset: int = 0

    @property
    def size(self) -> int:
        return math.prod(self.counts)


@dataclass(frozen=True)
class Moves:
    """An operator's output shapes, the outputs filled with ``fill`` before the copies (padding), and
    its copies."""

    out_shapes: tuple[Shape, ...]
    copies: tuple[Copy, ...]
    filled: tuple[int, ...] = ()


def strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Element strides of a dense row-major tensor."""
    out = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        out[d] = out[d + 1] * shape[d + 1]
    return tuple(out)


def canonical(c: Copy) -> Copy:
    """The same copy with dimensions of count 1 dropped and neighbours that walk both buffers as
    one dimension merged (a dense block becomes one run)."""
    dims = [(n, s, d) for n, s, d in zip(c.counts, c.src_strides, c.dst_strides, strict=True)
            if n != 1]
    merged: list[tuple[int, int, int]] = []
    for n, s, d in dims:
        if merged:
            pn, ps, pd = merged[-1]
            if ps == s * n and pd == d * n:
                merged[-1] = (pn * n, s, d)
                continue
        merged.append((n, s, d))
    if not merged:
        merged = [(1, 1, 1)]
    return Copy(c.src, c.dst, tuple(m[0] for m in merged), tuple(m[1] for m in merged),
                tuple(m[2] for m in merged), c.src_offset, c.dst_offset)


def apply(moves: Moves, inputs: Sequence[npt.NDArray[np.generic]], fill: int = 0
          ) -> list[npt.NDArray[np.generic]]:
    """The copies run in NumPy (a twin of the C kernel, for tests and checks)."""
    dtype = inputs[0].dtype if inputs else np.dtype(np.int8)
    outs = [np.full(math.prod(s), fill if i in moves.filled else 0, dtype=dtype)
            for i, s in enumerate(moves.out_shapes)]
    for c in moves.copies:
        src = np.asarray(inputs[c.src]).reshape(-1)
        grid = np.indices(c.counts).reshape(len(c.counts), -1)
        s = c.src_offset + np.tensordot(np.asarray(c.src_strides), grid, axes=1)
        d = c.dst_offset + np.tensordot(np.asarray(c.dst_strides), grid, axes=1)
        outs[c.dst][d] = src[s]
    return [o.reshape(s) for o, s in zip(outs, moves.out_shapes, strict=True)]


def _axis(axis: int, rank: int, what: str = "axis") -> int:
    need(-rank <= axis < rank, f"{what} {axis} is outside a rank-{rank} tensor")
    return axis % rank


def _window(src: int, shape: Shape, starts: Sequence[int], steps: Sequence[int],
            counts: Sequence[int], dst: int = 0) -> Copy:
    """A copy of the strided window of input ``src`` (``counts`` elements from ``starts`` by
    ``steps`` along each dimension) into a dense output ``dst``."""
    st = strides(shape)
    return Copy(src, dst, tuple(counts), tuple(s * k for s, k in zip(st, steps, strict=True)),
                strides(counts), sum(a * s for a, s in zip(starts, st, strict=True)))


# ---- the operators ----------------------------------------------------------------------------------


def transpose(shape: Shape, perm: Sequence[int]) -> Moves:
    rank = len(shape)
    need(sorted(perm) == list(range(rank)),
         f"perm {list(perm)} is not a permutation of the {rank} dimensions of {shape}")
    out = tuple(shape[p] for p in perm)
    st = strides(shape)
    return Moves((out,), (Copy(0, 0, out, tuple(st[p] for p in perm), strides(out)),))


def slice_(shape: Shape, begin: Sequence[int], size: Sequence[int]) -> Moves:
    rank = len(shape)
    need(len(begin) == len(size) == rank,
         f"begin {list(begin)} and size {list(size)} are not one value per dimension of {shape}")
    counts = []
    for d in range(rank):
        n = shape[d] - begin[d] if size[d] == -1 else size[d]
        need(0 <= begin[d] and 0 <= n and begin[d] + n <= shape[d],
             f"slices {n if size[d] != -1 else -1} values from {begin[d]} of dimension {d} "
             f"({shape[d]})")
        counts.append(n)
    out = tuple(counts)
    return Moves((out,), (_window(0, shape, begin, (1,) * rank, out),))


def strided_slice(shape: Shape, begin: Sequence[int], end: Sequence[int], steps: Sequence[int],
                  begin_mask: int, end_mask: int, shrink_mask: int) -> Moves:
    """TFLite Micro's STRIDED_SLICE (its shape check's StartForAxis / StopForAxis, its kernel's
    shrink rule): masked ends run to the edge in the stride's direction, negative indices count
    from the end, indices are clamped to [0, n] (stride > 0) or [-1, n - 1] (stride < 0)."""
    rank = len(shape)
    need(len(begin) == len(end) == len(steps) == rank,
         f"begin {list(begin)}, end {list(end)} and strides {list(steps)} are not one value per "
         f"dimension of {shape}")
    starts, counts, out = [], [], []
    for d in range(rank):
        n, s = shape[d], steps[d]
        need(s != 0, f"has stride 0 in dimension {d}")
        lo, hi = (0, n) if s > 0 else (-1, n - 1)
        start = begin[d]
        if begin_mask >> d & 1:  # TFLite Micro's int limits, clamped below
            start = INT_MIN if s > 0 else INT_MAX
        start = start + n if start < 0 else start
        start = min(max(start, lo), hi)
        if shrink_mask >> d & 1:
            if s < 0:
                raise Unsupported(f"drops dimension {d} with stride {s}: TFLite's kernels walk "
                                  "no element there and leave the output unwritten",
                                  "drop dimensions with a positive stride")
            need(0 <= start < n, f"drops dimension {d} at index {begin[d]}, outside 0..{n - 1}")
            starts.append(start)
            counts.append(1)
            continue
        stop = end[d]
        if end_mask >> d & 1:
            stop = INT_MAX if s > 0 else INT_MIN
        stop = stop + n if stop < 0 else stop
        stop = min(max(stop, lo), hi)
        count = max(0, -(-(stop - start) // s))
        starts.append(start)
        counts.append(count)
        out.append(count)
    return Moves((tuple(out),), (_window(0, shape, starts, steps, counts),))


def split(shape: Shape, axis: int, sizes: Sequence[int], src: int = 0) -> Moves:
    """SPLIT (equal pieces) and SPLIT_V (``sizes``, one of them -1 for the rest) along ``axis``."""
    rank = len(shape)
    ax = _axis(axis, rank)
    need(len(sizes) >= 1, "splits into no pieces")
    free = [i for i, s in enumerate(sizes) if s == -1]
    need(len(free) <= 1 and all(s >= 0 or s == -1 for s in sizes),
         f"has size_splits {list(sizes)} (at most one -1, the others >= 0)")
    known = sum(s for s in sizes if s != -1)
    pieces = list(sizes)
    if free:
        need(known <= shape[ax], f"size_splits {list(sizes)} exceed dimension {ax} of {shape}")
        pieces[free[0]] = shape[ax] - known
    need(sum(pieces) == shape[ax], f"pieces {pieces} do not add up to dimension {ax} of {shape}")
    outs, copies, at = [], [], 0
    for i, n in enumerate(pieces):
        o = (*shape[:ax], n, *shape[ax + 1:])
        outs.append(o)
        begin = [0] * rank
        begin[ax] = at
        copies.append(_window(src, shape, begin, (1,) * rank, o, dst=i))
        at += n
    return Moves(tuple(outs), tuple(copies))


def equal_split(shape: Shape, axis: int, num: int, src: int) -> Moves:
    ax = _axis(axis, len(shape))
    need(num >= 1 and shape[ax] % num == 0,
         f"splits dimension {ax} of {shape} into {num} equal pieces")
    return split(shape, axis, [shape[ax] // num] * num, src)


def unpack(shape: Shape, axis: int, num: int) -> Moves:
    rank = len(shape)
    ax = _axis(axis, rank)
    need(num == shape[ax], f"unpacks {num} tensors along dimension {ax} of {shape}")
    st = strides(shape)
    o = shape[:ax] + shape[ax + 1:]
    keep = st[:ax] + st[ax + 1:]
    return Moves((o,) * num, tuple(Copy(0, i, o, keep, strides(o), i * st[ax])
                                   for i in range(num)))


def pack(shapes: Sequence[Shape], axis: int) -> Moves:
    need(len(set(shapes)) == 1, f"packs tensors of different shapes {sorted(set(shapes))}")
    shape = shapes[0]
    ax = _axis(axis, len(shape) + 1)
    out = (*shape[:ax], len(shapes), *shape[ax:])
    os = strides(out)
    keep = os[:ax] + os[ax + 1:]
    return Moves((out,), tuple(Copy(i, 0, shape, strides(shape), keep, 0, i * os[ax])
                               for i in range(len(shapes))))


def gather(shape: Shape, axis: int, batch_dims: int, indices: npt.NDArray[np.integer]) -> Moves:
    """GATHER with constant indices: a run of indices in arithmetic progression is one copy."""
    if batch_dims != 0:
        raise Unsupported(f"has batch_dims {batch_dims}", "gather with batch_dims 0")
    rank = len(shape)
    ax = _axis(axis, rank)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    need(bool(np.all((idx >= 0) & (idx < shape[ax]))),
         f"has indices outside 0..{shape[ax] - 1} (TFLite refuses them)")
    out = (*shape[:ax], *np.shape(indices), *shape[ax + 1:])
    view = (*shape[:ax], idx.size, *shape[ax + 1:])
    st, vs = strides(shape), strides(view)
    counts_out = list(view)
    copies = []
    k = 0
    while k < idx.size:
        run = 1
        step = int(idx[k + 1] - idx[k]) if k + 1 < idx.size else 0
        while k + run < idx.size and idx[k + run] - idx[k + run - 1] == step:
            run += 1
        counts_out[ax] = run
        src_st = list(st)
        src_st[ax] = step * st[ax]
        copies.append(Copy(0, 0, tuple(counts_out), tuple(src_st), vs, int(idx[k]) * st[ax],
                           k * vs[ax]))
        k += run
    return Moves((out,), tuple(copies))


def tile(shape: Shape, multiples: Sequence[int]) -> Moves:
    rank = len(shape)
    need(len(multiples) == rank, f"multiples {list(multiples)} are not one per dimension of {shape}")
    need(all(m >= 1 for m in multiples), f"has multiples {list(multiples)} (each >= 1)")
    out = tuple(d * m for d, m in zip(shape, multiples, strict=True))
    st, os = strides(shape), strides(out)
    counts, src_st, dst_st = [], [], []
    for d in range(rank):
        counts += [multiples[d], shape[d]]
        src_st += [0, st[d]]
        dst_st += [os[d] * shape[d], os[d]]
    return Moves((out,), (Copy(0, 0, tuple(counts), tuple(src_st), tuple(dst_st)),))


def reverse(shape: Shape, axes: Sequence[int]) -> Moves:
    """REVERSE_V2: the input read backwards along one axis (a negative one counts from the end, as
    in both runtimes). Several axes are refused: the TFLite interpreter refuses non-contiguous ones,
    and converters emit one (a Bidirectional layer's time axis)."""
    rank = len(shape)
    need(len(axes) == 1, f"reverses axes {list(axes)}; mcuforge reverses one axis (the TFLite "
                         "interpreter refuses several non-contiguous ones)")
    dims = [_axis(axes[0], rank)]
    st = strides(shape)
    src = tuple(-s if d in dims else s for d, s in enumerate(st))
    start = sum((shape[d] - 1) * st[d] for d in dims if shape[d] > 0)
    return Moves((tuple(shape),), (Copy(0, 0, tuple(shape), src, st, start),))


def _map4(shape: Shape, what: str) -> tuple[int, int, int, int]:
    need(len(shape) == 4, f"{what} {shape} is not 4-D (NHWC)")
    return shape[0], shape[1], shape[2], shape[3]


def depth_to_space(shape: Shape, bs: int) -> Moves:
    b, h, w, c = _map4(shape, "input")
    need(bs >= 1 and c % (bs * bs) == 0, f"block size {bs}: {c} channels are not a multiple of "
                                         f"{bs * bs}")
    co = c // (bs * bs)
    out = (b, h * bs, w * bs, co)
    os = strides(out)
    # over (b, h, i, w, j, c): in[b, h, w, (i * bs + j) * co + c] -> out[b, h * bs + i, w * bs + j, c]
    return Moves((out,), (Copy(0, 0, (b, h, bs, w, bs, co),
                               (h * w * c, w * c, bs * co, c, co, 1),
                               (os[0], bs * os[1], os[1], bs * os[2], os[2], 1)),))


def space_to_depth(shape: Shape, bs: int) -> Moves:
    b, h, w, c = _map4(shape, "input")
    need(bs >= 1 and h % bs == 0 and w % bs == 0,
         f"block size {bs} does not divide the height and width of {shape}")
    out = (b, h // bs, w // bs, c * bs * bs)
    st = strides(shape)
    # over (b, h, w, i, j, c): in[b, h * bs + i, w * bs + j, c] -> out[b, h, w, (i * bs + j) * c + c']
    return Moves((out,), (Copy(0, 0, (b, h // bs, w // bs, bs, bs, c),
                               (st[0], bs * st[1], bs * st[2], st[1], st[2], 1),
                               strides((b, h // bs, w // bs, bs, bs, c))),))


def _spatial(shape: Shape, block: Sequence[int], pairs: Sequence[Sequence[int]],
             what: str) -> tuple[Shape, tuple[int, int], tuple[tuple[int, int], tuple[int, int]]]:
    """A 3-D (NHC) or 4-D (NHWC) operand as 4-D, with its block and paddings or crops, as TFLite
    Micro extends 3-D tensors (W = 1)."""
    need(len(shape) in (3, 4), f"input {shape} is not 3-D or 4-D")
    m = len(shape) - 2
    need(len(block) == m, f"block_shape {list(block)} is not one value per spatial dimension "
                          f"of {shape}")
    need(len(pairs) == m and all(len(p) == 2 for p in pairs),
         f"{what} {[list(p) for p in pairs]} are not a pair per spatial dimension of {shape}")
    need(all(v >= 1 for v in block), f"block_shape {list(block)} (each >= 1)")
    need(all(v >= 0 for p in pairs for v in p), f"has negative {what} {[list(p) for p in pairs]}")
    if m == 1:
        return ((shape[0], shape[1], 1, shape[2]), (block[0], 1),
                ((pairs[0][0], pairs[0][1]), (0, 0)))
    return (tuple(shape), (block[0], block[1]),
            ((pairs[0][0], pairs[0][1]), (pairs[1][0], pairs[1][1])))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def space_to_batch(shape: Shape, block: Sequence[int], pads: Sequence[Sequence[int]]) -> Moves:
    rank = len(shape)
    s4, (bh, bw), ((pt, pb), (pl, pr)) = _spatial(shape, block, pads, "paddings")
    b, h, w, c = s4
    need((h + pt + pb) % bh == 0 and (w + pl + pr) % bw == 0,
         f"the padded input is not a whole number of {bh}x{bw} blocks")
    ho, wo = (h + pt + pb) // bh, (w + pl + pr) // bw
    out4 = (b * bh * bw, ho, wo, c)
    st, os = strides(s4), strides(out4)
    copies = []
    for i in range(bh):
        for j in range(bw):
            h0, h1 = max(_ceil_div(pt - i, bh), 0), min((h - 1 + pt - i) // bh, ho - 1)
            w0, w1 = max(_ceil_div(pl - j, bw), 0), min((w - 1 + pl - j) // bw, wo - 1)
            if h1 < h0 or w1 < w0:
                continue
            ob = (i * bw + j) * b
            copies.append(Copy(0, 0, (b, h1 - h0 + 1, w1 - w0 + 1, c),
                               (st[0], bh * st[1], bw * st[2], 1), (os[0], os[1], os[2], 1),
                               (h0 * bh + i - pt) * st[1] + (w0 * bw + j - pl) * st[2],
                               ob * os[0] + h0 * os[1] + w0 * os[2]))
    out = out4 if rank == 4 else (out4[0], ho, c)
    padded = pt + pb + pl + pr > 0
    return Moves((out,), tuple(copies), (0,) if padded else ())


def batch_to_space(shape: Shape, block: Sequence[int], crops: Sequence[Sequence[int]]) -> Moves:
    rank = len(shape)
    s4, (bh, bw), ((ct, cb), (cl, cr)) = _spatial(shape, block, crops, "crops")
    bi, h, w, c = s4
    need(bi % (bh * bw) == 0, f"batch {bi} is not a multiple of the block {bh}x{bw}")
    b = bi // (bh * bw)
    ho, wo = h * bh - ct - cb, w * bw - cl - cr
    need(ho >= 1 and wo >= 1, f"crops {[list(p) for p in crops]} leave nothing of {shape}")
    out4 = (b, ho, wo, c)
    st, os = strides(s4), strides(out4)
    copies = []
    for i in range(bh):
        for j in range(bw):
            h0, h1 = max(_ceil_div(ct - i, bh), 0), min((ho - 1 + ct - i) // bh, h - 1)
            w0, w1 = max(_ceil_div(cl - j, bw), 0), min((wo - 1 + cl - j) // bw, w - 1)
            if h1 < h0 or w1 < w0:
                continue
            ib = (i * bw + j) * b
            copies.append(Copy(0, 0, (b, h1 - h0 + 1, w1 - w0 + 1, c),
                               (st[0], st[1], st[2], 1), (os[0], bh * os[1], bw * os[2], 1),
                               ib * st[0] + h0 * st[1] + w0 * st[2],
                               (h0 * bh + i - ct) * os[1] + (w0 * bw + j - cl) * os[2]))
    out = out4 if rank == 4 else (b, ho, c)
    return Moves((out,), tuple(copies))


# ---- the operators of a graph -----------------------------------------------------------------------


def const_operand(g: Graph, op: Op, pos: int, what: str) -> npt.NDArray[np.int64]:
    """The constant integer operand at input ``pos`` (int32 or int64)."""
    need(len(op.inputs) > pos and op.inputs[pos] >= 0, f"has no {what} (input {pos})")
    t = g.tensors[op.inputs[pos]]
    if t.data is None:
        raise Unsupported(f"its {what} '{t.name}' is not a constant",
                          f"mcuforge compiles {op.kind.value} with a constant {what}")
    need(t.dtype in (DType.INT32, DType.INT64), f"{what} '{t.name}' is {t.dtype.value}, expected "
                                                "int32 or int64")
    return np.asarray(t.data, dtype=np.int64)


def const_ints(g: Graph, op: Op, pos: int, what: str, rank: int | None = 1) -> tuple[int, ...]:
    data = const_operand(g, op, pos, what)
    if rank is not None:
        need(data.ndim <= rank, f"{what} '{g.tensors[op.inputs[pos]].name}' has shape "
                                f"{data.shape}, expected at most {rank} dimension(s)")
    return tuple(int(v) for v in data.reshape(-1))


def _scalar(g: Graph, op: Op, pos: int, what: str) -> int:
    values = const_ints(g, op, pos, what)
    need(len(values) == 1, f"{what} '{g.tensors[op.inputs[pos]].name}' holds {len(values)} values, "
                           "expected one")
    return values[0]


def _pairs(g: Graph, op: Op, pos: int, what: str) -> list[list[int]]:
    data = const_operand(g, op, pos, what)
    need(data.ndim == 2 and data.shape[1] == 2,
         f"{what} '{g.tensors[op.inputs[pos]].name}' has shape {data.shape}, expected (n, 2)")
    return [[int(a), int(b)] for a, b in data.tolist()]


MOVES = frozenset({
    OpKind.TRANSPOSE, OpKind.SLICE, OpKind.STRIDED_SLICE, OpKind.SPLIT, OpKind.SPLIT_V,
    OpKind.UNPACK, OpKind.PACK, OpKind.GATHER, OpKind.TILE, OpKind.REVERSE_V2, OpKind.DEPTH_TO_SPACE,
    OpKind.SPACE_TO_DEPTH, OpKind.SPACE_TO_BATCH_ND, OpKind.BATCH_TO_SPACE_ND,
})
"""The operators :func:`moves_of` describes."""


def moves_of(g: Graph, op: Op) -> Moves:
    """The copies of a data-movement operator of ``g``, from its constant operands."""
    x = g.tensors[op.inputs[1 if op.kind is OpKind.SPLIT else 0]].shape
    a = op.attrs
    k = op.kind
    if k is OpKind.TRANSPOSE:
        return transpose(x, const_ints(g, op, 1, "perm"))
    if k is OpKind.SLICE:
        return slice_(x, const_ints(g, op, 1, "begin"), const_ints(g, op, 2, "size"))
    if k is OpKind.STRIDED_SLICE:
        assert isinstance(a, StridedSliceAttrs)
        if a.ellipsis_mask or a.new_axis_mask or a.offset:
            raise Unsupported("has an ellipsis or new-axis mask or offset, which TFLite Micro "
                              "ignores (the TFLite interpreter does not)",
                              "slice with begin, end, strides and begin/end/shrink masks")
        return strided_slice(x, const_ints(g, op, 1, "begin"), const_ints(g, op, 2, "end"),
                             const_ints(g, op, 3, "strides"), a.begin_mask, a.end_mask,
                             a.shrink_axis_mask)
    if k is OpKind.SPLIT:
        assert isinstance(a, SplitAttrs)
        return equal_split(x, _scalar(g, op, 0, "axis"), a.num_splits, 1)
    if k is OpKind.SPLIT_V:
        assert isinstance(a, SplitAttrs)
        sizes = const_ints(g, op, 1, "size_splits")
        need(len(sizes) == a.num_splits, f"has {len(sizes)} size_splits for "
                                         f"SplitVOptions.num_splits {a.num_splits}")
        return split(x, _scalar(g, op, 2, "axis"), sizes)
    if k is OpKind.UNPACK:
        assert isinstance(a, UnpackAttrs)
        return unpack(x, a.axis, a.num)
    if k is OpKind.PACK:
        assert isinstance(a, PackAttrs)
        return pack([g.tensors[t].shape for t in op.inputs], a.axis)
    if k is OpKind.GATHER:
        assert isinstance(a, GatherAttrs)
        return gather(x, a.axis, a.batch_dims, const_operand(g, op, 1, "indices"))
    if k is OpKind.TILE:
        return tile(x, const_ints(g, op, 1, "multiples"))
    if k is OpKind.REVERSE_V2:
        return reverse(x, const_ints(g, op, 1, "axis"))
    if k is OpKind.DEPTH_TO_SPACE:
        assert isinstance(a, BlockAttrs)
        return depth_to_space(x, a.block_size)
    if k is OpKind.SPACE_TO_DEPTH:
        assert isinstance(a, BlockAttrs)
        return space_to_depth(x, a.block_size)
    if k is OpKind.SPACE_TO_BATCH_ND:
        return space_to_batch(x, const_ints(g, op, 1, "block_shape"), _pairs(g, op, 2, "paddings"))
    if k is OpKind.BATCH_TO_SPACE_ND:
        return batch_to_space(x, const_ints(g, op, 1, "block_shape"), _pairs(g, op, 2, "crops"))
    raise Problem(f"{k.value} is not a data-movement operator")
