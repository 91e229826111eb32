"""Constant folding at import: a pure pass over the IR.

Models converted with a dynamic batch compute shapes in the graph (SHAPE -> STRIDED_SLICE -> PACK ->
RESHAPE's shape input). Every operator whose result NumPy can compute exactly from constants (SHAPE,
whose result is the static shape of its input; STRIDED_SLICE, PACK, GATHER, CONCATENATION of
integers and RESHAPE whose inputs are all constants) is replaced by a constant tensor holding that
result, before the shape and exactness checks. What remains of these operators reads activations:
STRIDED_SLICE, PACK and GATHER are then compiled as data movement (:mod:`generator.layout`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from generator.importer.problems import Problem, Unsupported, need, operator_error
from generator.ir import (
    ConcatAttrs,
    DType,
    GatherAttrs,
    Graph,
    Op,
    OpKind,
    PackAttrs,
    ReshapeAttrs,
    StridedSliceAttrs,
    Tensor,
)

Array = npt.NDArray[np.generic]


def fold_constants(g: Graph, where: str) -> Graph:
    """``g`` with every foldable operator gone and its output a constant."""
    tensors = list(g.tensors)
    kept: list[Op] = []
    for i, op in enumerate(g.ops):
        fold = _FOLDERS.get(op.kind)
        ins = [tensors[t] for t in op.inputs if t >= 0]
        ready = op.kind is OpKind.SHAPE or all(t.is_const for t in ins)
        if fold is None or not ready or len(op.outputs) != 1 or op.outputs[0] < 0:
            kept.append(op)
            continue
        y = tensors[op.outputs[0]]
        if op.kind is OpKind.CONCATENATION and y.quant is not None:
            kept.append(op)  # quantised values: the CONCATENATION rules and kernel apply
            continue
        try:
            value = np.asarray(fold(op, ins, y))
            need(value.shape == y.shape, f"computes a constant of shape {value.shape}, but its "
                                         f"output '{y.name}' is {y.shape}")
            for x in ins if op.kind is not OpKind.SHAPE else ():
                if x.quant is not None:
                    need(x.quant == y.quant, f"moves values of '{x.name}' to '{y.name}' of "
                                             "another quantisation")
        except Problem as problem:
            raise operator_error(where, i, op.kind.value, op.name, problem) from None
        data = value.astype(y.dtype.value)
        data.setflags(write=False)
        tensors[op.outputs[0]] = replace(y, data=data)
    if len(kept) == len(g.ops):
        return g
    ops = tuple(_with_shape(op, tensors) for op in kept)
    return replace(g, tensors=tuple(tensors), ops=ops)


def _with_shape(op: Op, tensors: list[Tensor]) -> Op:
    """A RESHAPE whose shape input folding made constant asks for that shape."""
    a = op.attrs
    if op.kind is not OpKind.RESHAPE or not isinstance(a, ReshapeAttrs) or a.requested is not None:
        return op
    if len(op.inputs) < 2 or op.inputs[1] < 0 or tensors[op.inputs[1]].data is None:
        return op
    s = tensors[op.inputs[1]]
    assert s.data is not None
    requested = tuple(int(v) for v in s.data.reshape(-1))
    return replace(op, attrs=ReshapeAttrs(a.new_shape, requested,
                                          f"shape input '{s.name}' (computed at import)"))


def _data(t: Tensor) -> Array:
    assert t.data is not None
    return t.data


def _shape(op: Op, ins: list[Tensor], y: Tensor) -> Array:
    need(y.dtype in (DType.INT32, DType.INT64), f"output '{y.name}' is {y.dtype.value}, "
                                                "SHAPE gives int32 or int64")
    return np.array(ins[0].shape, dtype=np.int64)


def _axis(axis: int, rank: int, what: str) -> int:
    need(-rank <= axis < rank, f"{what} {axis} is outside a rank-{rank} tensor")
    return axis % rank


def _pack(op: Op, ins: list[Tensor], y: Tensor) -> Array:
    a = op.attrs
    assert isinstance(a, PackAttrs)
    shapes = {t.shape for t in ins}
    need(len(shapes) == 1, f"packs tensors of different shapes {sorted(shapes)}")
    axis = _axis(a.axis, len(ins[0].shape) + 1, "axis")
    return np.stack([_data(t) for t in ins], axis=axis)


def _concat(op: Op, ins: list[Tensor], y: Tensor) -> Array:
    a = op.attrs
    assert isinstance(a, ConcatAttrs)
    need(len({len(t.shape) for t in ins}) == 1, "concatenates tensors of different ranks")
    axis = _axis(a.axis, len(ins[0].shape), "axis")
    return np.concatenate([_data(t) for t in ins], axis=axis)


def _reshape(op: Op, ins: list[Tensor], y: Tensor) -> Array:
    x = ins[0]
    need(x.size == y.size, f"reshapes {x.shape} to {y.shape}")
    return _data(x).reshape(y.shape)


def _gather(op: Op, ins: list[Tensor], y: Tensor) -> Array:
    a = op.attrs
    assert isinstance(a, GatherAttrs)
    params, idx = _data(ins[0]), np.asarray(_data(ins[1]), dtype=np.int64)
    if a.batch_dims != 0:
        raise Unsupported(f"has batch_dims {a.batch_dims}", "gather with batch_dims 0")
    axis = _axis(a.axis, params.ndim, "axis")
    need(bool(np.all((idx >= 0) & (idx < params.shape[axis]))),
         f"has indices outside 0..{params.shape[axis] - 1}")
    return np.take(params, idx, axis=axis)


def slice_indices(shape: tuple[int, ...], begin: tuple[int, ...], end: tuple[int, ...],
                  strides: tuple[int, ...], a: StridedSliceAttrs) -> list[tuple[list[int], bool]]:
    """Per input dimension, the indices STRIDED_SLICE reads and whether the dimension is dropped
    (TFLite's StartForAxis / StopForAxis: masked ends run to the edge, negative indices count from
    the end, and indices are clamped to the dimension). Positive strides only: with negative ones
    TFLM's output shapes differ from the TFLite interpreter's at the edges; they are refused."""
    rank = len(shape)
    if a.ellipsis_mask or a.new_axis_mask or a.offset:
        raise Unsupported("has an ellipsis or new-axis mask or offset",
                          "slice with begin, end, strides and begin/end/shrink masks")
    need(len(begin) == len(end) == len(strides) == rank,
         f"begin {list(begin)}, end {list(end)} and strides {list(strides)} are not one value per "
         f"dimension of {shape} (TFLM reads a missing one as 0, the TFLite interpreter as all)")
    out: list[tuple[list[int], bool]] = []
    for d in range(rank):
        n = shape[d]
        s = strides[d]
        need(s != 0, "has a stride of 0")
        if s < 0:
            raise Unsupported(f"has a negative stride {s}", "slice with positive strides")
        shrink = bool(a.shrink_axis_mask >> d & 1)
        if a.begin_mask >> d & 1:
            start = 0
        else:
            start = begin[d] + n if begin[d] < 0 else begin[d]
        if shrink:
            need(0 <= start < n, f"drops dimension {d} at index {begin[d]}, outside 0..{n - 1}")
            out.append(([start], True))
            continue
        start = min(max(start, 0), n)
        if a.end_mask >> d & 1:
            stop = n
        else:
            e = begin[d] + end[d] if a.offset else end[d]
            stop = e + n if e < 0 else e
            stop = min(max(stop, 0), n)
        out.append((list(range(start, stop, s)), False))
    return out


def strided_slice(x: Array, begin: tuple[int, ...], end: tuple[int, ...],
                  strides: tuple[int, ...], a: StridedSliceAttrs) -> Array:
    """TFLite's STRIDED_SLICE of ``x``, in NumPy."""
    picks = slice_indices(x.shape, begin, end, strides, a)
    y = x
    for d, (idx, _) in enumerate(picks):
        y = np.take(y, np.asarray(idx, dtype=np.int64), axis=d)
    return y.reshape(tuple(len(idx) for idx, drop in picks if not drop))


def _strided_slice(op: Op, ins: list[Tensor], y: Tensor) -> Array:
    a = op.attrs
    assert isinstance(a, StridedSliceAttrs)
    begin, end, strides = (tuple(int(v) for v in _data(t).reshape(-1)) for t in ins[1:4])
    return strided_slice(_data(ins[0]), begin, end, strides, a)


_FOLDERS: dict[OpKind, Callable[[Op, list[Tensor], Tensor], Array]] = {
    OpKind.SHAPE: _shape,
    OpKind.PACK: _pack,
    OpKind.CONCATENATION: _concat,
    OpKind.RESHAPE: _reshape,
    OpKind.GATHER: _gather,
    OpKind.STRIDED_SLICE: _strided_slice,
}
