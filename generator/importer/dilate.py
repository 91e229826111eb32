"""SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D -> BATCH_TO_SPACE_ND as one dilated convolution.

TensorFlow writes an atrous (dilated) convolution as a convolution of the input's blocks: the input
padded and split into ``bh x bw`` interleaved blocks (SPACE_TO_BATCH_ND), a VALID, stride-1 convolution
of each block, and the blocks interleaved back and cropped (BATCH_TO_SPACE_ND). Output row ``Y`` of that
sum reads padded input rows ``Y + crop_top + ky * bh``: the same values as a convolution with dilation
``bh`` over the input padded by ``pad_top - crop_top`` rows. Where that padding is what TFLite's SAME
or VALID padding gives, the three operators become one convolution with that dilation, which the
kernels compute at batch 1 (the blocked form has batch ``bh * bw``).

Padded positions count as the input zero point in a convolution, as in the TFLite interpreter's
SPACE_TO_BATCH_ND (TFLite Micro pads there with a parameter it never sets); the folded form is
therefore exact against the interpreter. Anything that does not match the pattern exactly is left
as it is (and checked as usual).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from generator.codegen.qparams import same_padding, valid_out
from generator.ir import (
    Conv2DAttrs,
    DepthwiseConv2DAttrs,
    Graph,
    Op,
    OpKind,
    Padding,
)


def fold_dilations(g: Graph) -> Graph:
    """``g`` with every SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND that is a SAME or
    VALID dilated convolution replaced by that convolution."""
    ops = list(g.ops)
    gone: set[int] = set()
    for i, op in enumerate(g.ops):
        if op.kind is not OpKind.SPACE_TO_BATCH_ND or i in gone:
            continue
        found = _match(g, i)
        if found is None:
            continue
        conv_i, b2s_i, new = found
        ops[conv_i] = new
        gone |= {i, b2s_i}
    if not gone:
        return g
    return replace(g, ops=tuple(op for k, op in enumerate(ops) if k not in gone))


def _const(g: Graph, op: Op, pos: int) -> np.ndarray | None:
    if len(op.inputs) <= pos or op.inputs[pos] < 0:
        return None
    data = g.tensors[op.inputs[pos]].data
    return None if data is None else np.asarray(data, dtype=np.int64)


def _only_consumer(g: Graph, tid: int) -> int | None:
    users = g.consumers(tid)
    if len(users) != 1 or tid in g.outputs:
        return None
    return users[0]


def _match(g: Graph, i: int) -> tuple[int, int, Op] | None:
    s2b = g.ops[i]
    if len(s2b.inputs) != 3 or len(s2b.outputs) != 1:
        return None
    x, t1 = g.tensors[s2b.inputs[0]], g.tensors[s2b.outputs[0]]
    block, pads = _const(g, s2b, 1), _const(g, s2b, 2)
    if len(x.shape) != 4 or x.shape[0] != 1 or block is None or pads is None:
        return None
    if block.shape != (2,) or pads.shape != (2, 2) or np.any(block < 1) or np.any(pads < 0):
        return None
    conv_i = _only_consumer(g, s2b.outputs[0])
    if conv_i is None:
        return None
    conv = g.ops[conv_i]
    a = conv.attrs
    if conv.kind not in (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D) or conv.inputs[0] != s2b.outputs[0]:
        return None
    assert isinstance(a, Conv2DAttrs | DepthwiseConv2DAttrs)
    if (a.padding is not Padding.VALID or (a.stride_h, a.stride_w) != (1, 1)
            or (a.dilation_h, a.dilation_w) != (1, 1) or len(conv.outputs) != 1):
        return None
    b2s_i = _only_consumer(g, conv.outputs[0])
    if b2s_i is None:
        return None
    b2s = g.ops[b2s_i]
    if b2s.kind is not OpKind.BATCH_TO_SPACE_ND or b2s.inputs[0] != conv.outputs[0]:
        return None
    block2, crops = _const(g, b2s, 1), _const(g, b2s, 2)
    if block2 is None or crops is None or crops.shape != (2, 2) or not np.array_equal(block, block2):
        return None
    t2, y = g.tensors[conv.outputs[0]], g.tensors[b2s.outputs[0]]
    if x.quant != t1.quant or t2.quant != y.quant or len(y.shape) != 4 or y.shape[0] != 1:
        return None
    w = g.tensors[conv.inputs[1]]
    if len(w.shape) != 4:
        return None
    (bh, bw), k = (int(v) for v in block), (w.shape[1], w.shape[2])
    before = (int(pads[0][0] - crops[0][0]), int(pads[1][0] - crops[1][0]))
    padding = _padding(x.shape[1:3], y.shape[1:3], k, (bh, bw), before)
    if padding is None:
        return None
    new = replace(conv, inputs=(s2b.inputs[0], *conv.inputs[1:]), outputs=b2s.outputs,
                  attrs=replace(a, padding=padding, dilation_h=bh, dilation_w=bw),
                  name=y.name)
    return conv_i, b2s_i, new


def _padding(size: tuple[int, ...], out: tuple[int, ...], k: tuple[int, int],
             dil: tuple[int, int], before: tuple[int, int]) -> Padding | None:
    """The TFLite padding whose dilated convolution reads the rows and columns the blocked form
    reads (output size and padding before the first row and column), or None."""
    for padding in (Padding.SAME, Padding.VALID):
        fits = True
        for d in range(2):
            if padding is Padding.SAME:
                want_out, want_before = same_padding(size[d], k[d], 1, dil[d])
            else:
                want_out, want_before = valid_out(size[d], k[d], 1, dil[d]), 0
            fits &= (want_out, want_before) == (out[d], before[d])
        if fits:
            return padding
    return None
