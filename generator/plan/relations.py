"""How each operator relates to the channel dimension: what partial execution may assume of it.

Every :class:`~generator.ir.OpKind` declares one relation (a test checks that none is missing). The
planner (:mod:`generator.plan.pex`) builds chains only from the operators it knows how to slice
(:data:`SLICEABLE`), and only where their relation allows: a chain starts at a channel-mixing or
channel-wise operator, runs through channel-wise ones and ends at either. Every other operator runs
whole, which is always correct; a wrong relation is not, so declare the weakest one that holds.
"""

from __future__ import annotations

import enum

from generator.ir import OpKind


class Relation(enum.Enum):
    MIXING = "channel-mixing"
    """Each output channel reads every input channel (CONV_2D, FULLY_CONNECTED): sliced by its
    output channels, or by its input channels into an int32 accumulator."""
    WISE = "channel-wise"
    """Output channel c reads input channel c alone (or its depth_multiplier group): sliced by
    channel ranges."""
    LAYOUT = "layout-changing"
    """Moves data between positions without arithmetic, across channels (RESHAPE, TRANSPOSE,
    CONCATENATION, ...): runs whole."""
    WHOLE = "whole-tensor"
    """Output values depend on other channels of the same position (SOFTMAX over channels, a
    reduction over channels) or the op changes types at the graph's edge: runs whole."""


RELATIONS: dict[OpKind, Relation] = {
    OpKind.CONV_2D: Relation.MIXING,
    OpKind.FULLY_CONNECTED: Relation.MIXING,
    OpKind.DEPTHWISE_CONV_2D: Relation.WISE,
    OpKind.AVERAGE_POOL_2D: Relation.WISE,
    OpKind.MAX_POOL_2D: Relation.WISE,
    OpKind.PAD: Relation.WISE,
    OpKind.ADD: Relation.WISE,
    OpKind.MUL: Relation.WISE,
    OpKind.MEAN: Relation.WISE,  # over height and width of a 4-D map only (pex._wise_ok)
    OpKind.LOGISTIC: Relation.WISE,
    OpKind.RESHAPE: Relation.LAYOUT,
    OpKind.CONCATENATION: Relation.LAYOUT,
    OpKind.SOFTMAX: Relation.WHOLE,
    OpKind.QUANTIZE: Relation.WHOLE,
    OpKind.DEQUANTIZE: Relation.WHOLE,
    # elementwise and reductions family
    OpKind.RELU: Relation.WISE,
    OpKind.RELU6: Relation.WISE,
    OpKind.LEAKY_RELU: Relation.WISE,
    OpKind.ABS: Relation.WISE,
    OpKind.TANH: Relation.WISE,
    OpKind.HARD_SWISH: Relation.WISE,
    OpKind.RSQRT: Relation.WISE,
    OpKind.L2_NORMALIZATION: Relation.WHOLE,  # each output reads its whole row of channels
    OpKind.LOG_SOFTMAX: Relation.WHOLE,
    OpKind.SUB: Relation.WISE,
    OpKind.MAXIMUM: Relation.WISE,
    OpKind.MINIMUM: Relation.WISE,
    OpKind.PRELU: Relation.WISE,
    OpKind.SQUARED_DIFFERENCE: Relation.WISE,
    # reductions: whole (MEAN is channel-wise over height and width only; the planner slices
    # nothing else of it, pex._wise_ok)
    OpKind.SUM: Relation.WHOLE,
    OpKind.REDUCE_MAX: Relation.WHOLE,
    OpKind.REDUCE_MIN: Relation.WHOLE,
    OpKind.ARG_MAX: Relation.WHOLE,
    OpKind.ARG_MIN: Relation.WHOLE,
    # layout and data movement
    OpKind.SQUEEZE: Relation.LAYOUT,
    OpKind.EXPAND_DIMS: Relation.LAYOUT,
    # data movement: run whole. A SPLIT or SLICE along height or width would be channel-wise, but
    # none of these is sliceable, so the weakest relation costs nothing and cannot be wrong
    OpKind.TRANSPOSE: Relation.LAYOUT,
    OpKind.TILE: Relation.LAYOUT,
    OpKind.REVERSE_V2: Relation.LAYOUT,
    OpKind.SPLIT: Relation.LAYOUT,
    OpKind.SPLIT_V: Relation.LAYOUT,
    OpKind.UNPACK: Relation.LAYOUT,
    OpKind.PACK: Relation.LAYOUT,
    OpKind.SLICE: Relation.LAYOUT,
    OpKind.STRIDED_SLICE: Relation.LAYOUT,
    OpKind.GATHER: Relation.LAYOUT,
    OpKind.DEPTH_TO_SPACE: Relation.LAYOUT,
    OpKind.SPACE_TO_DEPTH: Relation.LAYOUT,
    OpKind.SPACE_TO_BATCH_ND: Relation.LAYOUT,
    OpKind.BATCH_TO_SPACE_ND: Relation.LAYOUT,
    OpKind.RESIZE_NEAREST_NEIGHBOR: Relation.LAYOUT,
    OpKind.RESIZE_BILINEAR: Relation.LAYOUT,
    # evaluated at import on constants (importer/fold.py), never run
    OpKind.SHAPE: Relation.WHOLE,
    # recurrent: every unit reads every feature and the whole previous hidden state, step after
    # step; never sliced (not in SLICEABLE), it runs whole
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: Relation.MIXING,
    # transposed convolution: every output channel reads every input channel, and an output pixel
    # reads a stride-dependent set of input pixels; not in SLICEABLE, it runs whole
    OpKind.TRANSPOSE_CONV: Relation.MIXING,
    # every filter reads every input feature; [batch, features] tensors, not in SLICEABLE: whole
    OpKind.SVDF: Relation.MIXING,
}

TABLE_KINDS = frozenset({
    OpKind.LOGISTIC, OpKind.RELU, OpKind.RELU6, OpKind.LEAKY_RELU, OpKind.ABS, OpKind.TANH,
    OpKind.HARD_SWISH, OpKind.RSQRT,
})
"""int8 operators lowered to one 256-entry table lookup per value (lower_eltwise.emit_table):
channel-wise, sliced by the same lookup on strided rows, and free to write over their input."""

SLICEABLE = frozenset({
    OpKind.CONV_2D, OpKind.FULLY_CONNECTED, OpKind.DEPTHWISE_CONV_2D, OpKind.AVERAGE_POOL_2D,
    OpKind.MAX_POOL_2D, OpKind.PAD, OpKind.ADD, OpKind.SUB, OpKind.MEAN, *TABLE_KINDS,
})
"""The operators whose channel slices :mod:`generator.codegen.lower_split` can lower. A channel-wise
operator outside this set (MUL, PRELU, MAXIMUM, ...) is correct to slice but not yet implemented."""


def relation(kind: OpKind) -> Relation:
    return RELATIONS[kind]


def of_relation(rel: Relation) -> frozenset[OpKind]:
    """The sliceable operators of relation ``rel``."""
    return frozenset(k for k in SLICEABLE if RELATIONS[k] is rel)
