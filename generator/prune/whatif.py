"""What would the plan be with fewer channels? The memory plan of a resized IR, without retraining.

The planner only reads shapes, so a candidate pruning can be judged before any weights change: every
activation tensor gets the width its channel map has under the new group sizes, the filters and biases
of convolutions, depthwise convolutions and fully connected layers follow their input and output
widths (zero-filled: their values are never read), and the same split search and arena layout as
``mcuforge compile`` run on the result. This catches what a byte count at the old peak cannot: the
peak moving to another operator, or an in-place 1x1 convolution that stops being possible because its
input became narrower than its output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from generator.ir import Graph, Op, OpKind, ReshapeAttrs, Tensor
from generator.plan.arena import best_layout
from generator.plan.pex import search_splits
from generator.prune.irmap import IrChannels


def resized_graph(g: Graph, irc: IrChannels, sizes: Mapping[int, int]) -> Graph:
    """``g`` with channel group ``k`` of width ``sizes[k]`` (others as they are)."""
    full = {**irc.sizes, **sizes}
    tensors = list(g.tensors)
    for tid, m in irc.maps.items():
        t = tensors[tid]
        if t.shape:
            tensors[tid] = _reshaped(t, (*t.shape[:-1], m.width(full)))
    ops = []
    for op in g.ops:
        _resize_consts(g, op, tensors)
        if isinstance(op.attrs, ReshapeAttrs):
            op = replace(op, attrs=ReshapeAttrs(tensors[op.outputs[0]].shape))
        ops.append(op)
    return replace(g, tensors=tuple(tensors), ops=tuple(ops))


def _reshaped(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    if shape == t.shape:
        return t
    data = None if t.data is None else np.zeros(shape, t.data.dtype)
    return replace(t, shape=shape, data=data)


def _resize_consts(g: Graph, op: Op, tensors: list[Tensor]) -> None:
    if op.kind not in (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED):
        return
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        return
    cin = tensors[op.inputs[0]].shape[-1]
    cout = tensors[op.outputs[0]].shape[-1]
    w = tensors[op.inputs[1]]
    if op.kind is OpKind.CONV_2D:
        shape = (cout, *w.shape[1:3], cin)
    elif op.kind is OpKind.DEPTHWISE_CONV_2D:
        shape = (*w.shape[:3], cout)
    else:
        shape = (cout, cin)
    tensors[op.inputs[1]] = _reshaped(w, shape)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        tensors[op.inputs[2]] = _reshaped(tensors[op.inputs[2]], (cout,))


def planned_arena(g: Graph) -> tuple[int, int]:
    """(peak, arena) of the partial-execution plan of ``g``."""
    program = search_splits(g).program
    return program.peak, best_layout(list(program.buffers)).size
