"""Compile-time constants of the fast CONV_2D kernels (``mcuf_conv_fast.c``).

The filter is re-laid out for the inner loop, the input offset is folded into the bias, and the
size of the column scratch the kernel needs is fixed here. Pure functions of NumPy arrays and the IR;
the planner (:mod:`generator.plan.pex`) uses :func:`cols_bytes` to count the scratch.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from generator.ir import Conv2DAttrs, Graph, Op, OpKind

GROUP = 4  # filter values per 32-bit word
STACK_BYTES = 256
"""A conv whose column scratch (two pixels' columns and the largest stage) fits in this many bytes
keeps it on the stack (mcuf_conv_fast.c ``MCUF_CF_STACK_BYTES``) and needs no arena scratch."""


def padded_depth(k: int) -> int:
    """K (taps x input channels) rounded up to whole groups of four."""
    return -(-k // GROUP) * GROUP


def fast_filter(w: npt.NDArray[np.int8]) -> npt.NDArray[np.int32]:
    """An OHWI int8 filter in the fast layout, packed into little-endian int32 words.

    Each output channel's K values are zero-padded to whole groups of four; channels go in pairs,
    storing group g of the even channel then group g of the odd one; an odd last channel is stored
    plainly. ``out_c * padded_depth(K) / 4`` words."""
    oc = int(w.shape[0])
    k = int(np.prod(w.shape[1:], dtype=np.int64))
    kp = padded_depth(k)
    rows = np.zeros((oc, kp), dtype=np.int8)
    rows[:, :k] = np.asarray(w, dtype=np.int8).reshape(oc, k)
    groups = rows.reshape(oc, kp // GROUP, GROUP)
    pairs = oc // 2
    parts = [groups[: 2 * pairs].reshape(pairs, 2, kp // GROUP, GROUP).transpose(0, 2, 1, 3)
             .reshape(-1)]
    if oc % 2:
        parts.append(groups[-1].reshape(-1))
    packed = np.ascontiguousarray(np.concatenate(parts))
    words: npt.NDArray[np.int32] = packed.view("<i4").astype(np.int32)
    return words


def folded_bias(w: npt.NDArray[np.int8], bias: npt.NDArray[np.int32] | None,
                in_offset: int) -> npt.NDArray[np.int32]:
    """bias[oc] + in_offset * sum(w[oc]) per output channel, wrapped to int32 as the kernel's
    two's-complement sums are (the total with the input sums is the reference's in-range sum)."""
    oc = int(w.shape[0])
    sums = np.asarray(w, dtype=np.int64).reshape(oc, -1).sum(axis=1)
    b = np.zeros(oc, dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    total = b + np.int64(in_offset) * sums
    wrapped: npt.NDArray[np.int32] = ((total + 2**31) % 2**32 - 2**31).astype(np.int32)
    return wrapped


FAST_RQ = 1 << 16  # ctl bit: the short requantisation is exact for this channel


def requant_records(w: npt.NDArray[np.int8], bias_f: npt.NDArray[np.int32],
                    mult: npt.NDArray[np.int32],
                    shift: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Per output channel {multiplier, ctl}: ctl = right | left << 8 | FAST_RQ, with TFLite's shift
    split into left = max(shift, 0) and right = max(-shift, 0).

    FAST_RQ marks channels where the kernel may requantise with SMMULR(x << (left + 1), m) and
    (hi + 2^(right-1) - (hi < 0)) >> right, which equal TFLite's doubling high multiply and
    rounding shift whenever x << (left + 2) fits in int32 and right >= 1: checked here with the
    largest sum the channel can reach, |bias_f| + 128 * sum(|w|) (raw inputs are int8)."""
    oc = int(w.shape[0])
    bound = (np.abs(np.asarray(bias_f, dtype=np.int64))
             + 128 * np.abs(np.asarray(w, dtype=np.int64)).reshape(oc, -1).sum(axis=1))
    sh = np.asarray(shift, dtype=np.int64)
    left, right = np.maximum(sh, 0), np.maximum(-sh, 0)
    fast = (right >= 1) & (right <= 31) & (bound << (left + 2) < 2**31)
    ctl = right | (left << 8) | np.where(fast, FAST_RQ, 0)
    out = np.empty((oc, 2), dtype=np.int64)
    out[:, 0] = np.asarray(mult, dtype=np.int64)
    out[:, 1] = ctl
    return out.reshape(-1).astype(np.int32)


def slice_filters(w: npt.NDArray[np.int8], ranges: list[tuple[int, int]],
                  axis: int) -> list[npt.NDArray[np.int32]]:
    """The fast layout of each slice of ``w`` along ``axis`` (0: output, 3: input channels)."""
    blocks = []
    for lo, hi in ranges:
        part = w[lo:hi] if axis == 0 else w[..., lo:hi]
        blocks.append(fast_filter(np.ascontiguousarray(part)))
    return blocks


def cols_buffer(op_index: int) -> str:
    """Name of op ``op_index``'s column scratch buffer."""
    return f"cols{op_index}"


def cols_bytes(g: Graph, op: Op, in_c: int) -> int:
    """Bytes of column scratch a fast CONV_2D call reading ``in_c`` dense input channels needs:
    two pixels of q15 columns (one int32 word per padded filter value), then a stage after them
    (mcuf_conv_fast.c ``plan_of``): none where the conv reads its input pixels directly (1x1,
    stride 1, no padding), one filter row where it expands whole rows (undilated, k_w * in_c a
    multiple of four: COLS_ROWS), else one pixel's bytes. 0 for other operators, and 0 where the
    columns with the largest stage (one pixel's bytes) fit in :data:`STACK_BYTES`: the kernel
    keeps those on the stack."""
    if op.kind is not OpKind.CONV_2D:
        return 0
    a = op.attrs
    assert isinstance(a, Conv2DAttrs)
    w = g.tensors[op.inputs[1]]
    row = int(w.shape[2]) * in_c
    kp = padded_depth(int(w.shape[1]) * row)
    direct = reads_directly(g, op)
    if 4 * kp + (0 if direct else kp) <= STACK_BYTES:
        return 0  # the kernel keeps these columns on the stack
    if direct:
        stage = 0
    elif a.dilation_w == 1 and row % GROUP == 0:
        stage = row
    else:
        stage = kp
    return 4 * kp + stage


def borrowed_rows(g: Graph, op: Op, in_c: int, out_c: int) -> int:
    """How many first output rows (dense, ``out_c`` channels) a fast call without column scratch
    borrows for its columns, at the worst alignment of the output (mcuf_conv_fast.c
    ``conv_s8_borrow`` counts them at run time, never more)."""
    y = g.tensors[op.outputs[0]]
    row = int(y.shape[2]) * out_c
    return -(-(cols_bytes(g, op, in_c) + 3) // row) if row > 0 else 0


def borrows_output(g: Graph, op: Op, in_c: int, out_c: int, out_cs: int) -> bool:
    """Whether a fast call without column scratch computes with the columns in its first output
    rows before it computes them (mcuf_conv_fast.c ``conv_s8_borrow``): a conv that gathers, a
    dense output (``out_cs == out_c``) and at least one row left after the borrowed ones.
    Elsewhere such a call sums tap by tap, as slowly as the portable kernel."""
    y = g.tensors[op.outputs[0]]
    return (not reads_directly(g, op) and out_cs == out_c
            and 1 <= borrowed_rows(g, op, in_c, out_c) < int(y.shape[1]))


def reads_directly(g: Graph, op: Op) -> bool:
    """Whether the kernel expands input pixels in place (mcuf_conv_fast.c im2col ``direct``)."""
    a = op.attrs
    assert isinstance(a, Conv2DAttrs)
    w = g.tensors[op.inputs[1]]
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    return (tuple(w.shape[1:3]) == (1, 1) and a.stride_h == 1 and a.stride_w == 1
            and x.shape[1:3] == y.shape[1:3])
