"""Lowering of the layout and data-movement operators.

RESHAPE, SQUEEZE and EXPAND_DIMS (:data:`generator.ir.ALIASES`) only relabel the shape of a
contiguous int8 buffer: the output aliases the input and no code runs (TFLM's kernels copy the bytes when the buffers differ,
which leaves the same values).
"""

from __future__ import annotations

from generator.codegen.context import Lowering, register
from generator.ir import ALIASES, Op


def _alias(lw: Lowering, i: int, op: Op) -> None:
    lw.alias(op.outputs[0], op.inputs[0])


for _kind in ALIASES:
    register(_kind)(_alias)
