"""Shape rules of the data-movement and resize operators, checked at import.

The output shapes come from :func:`generator.layout.moves_of` (the same description the lowering
emits), so what passes here is what the kernels compute. RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR
take a constant size equal to the output's height and width, as TFLite Micro requires.
"""

from __future__ import annotations

from generator.importer.problems import Unsupported, need
from generator.ir import Graph, Op, ResizeAttrs
from generator.layout import const_ints, moves_of

MAX_COPIES = 4096
"""Strided copies one operator may take (one kernel call and one small constant each): a GATHER of
thousands of scattered indices or an UNPACK into thousands of tensors is refused, not compiled into
that much code."""


def check_moves(g: Graph, op: Op) -> None:
    m = moves_of(g, op)
    if len(m.copies) > MAX_COPIES:
        raise Unsupported(f"moves its data in {len(m.copies):,} separate pieces (at most "
                          f"{MAX_COPIES:,})", "gather runs of consecutive indices, or split into "
                          "fewer pieces")
    outs = [g.tensors[t] for t in op.outputs]
    need(len(outs) == len(m.out_shapes),
         f"has {len(outs)} outputs; its input and parameters make {len(m.out_shapes)}")
    for y, want in zip(outs, m.out_shapes, strict=True):
        need(y.shape == want, f"output '{y.name}' is {y.shape}; its input and parameters give "
                              f"{want}")


MAX_RESIZE = 1 << 15
"""Output heights and widths beyond this could overflow TFLite's fixed-point index arithmetic."""


def check_resize(g: Graph, op: Op) -> None:
    a = op.attrs
    assert isinstance(a, ResizeAttrs)
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    need(len(x.shape) == 4, f"input '{x.name}' {x.shape} is not 4-D (NHWC)")
    size = const_ints(g, op, 1, "size")
    need(len(size) == 2 and min(size) >= 1, f"size {list(size)} is not a positive height and width")
    need(max(size) <= MAX_RESIZE and max(x.shape[1:3]) <= MAX_RESIZE,
         f"resizes {x.shape[1]}x{x.shape[2]} to {size[0]}x{size[1]} (at most {MAX_RESIZE})")
    want = (x.shape[0], size[0], size[1], x.shape[3])
    need(y.shape == want, f"output '{y.name}' is {y.shape}; the size input gives {want}")
