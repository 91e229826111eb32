"""Compile-time constants of the fast DEPTHWISE_CONV_2D kernel (``mcuf_dwconv_fast.c``).

The fast kernel reads one int32 stream per call: folded biases, the doubled filter as int16 pairs
laid out for its inner loop, and per channel a record that folds the output zero point into the
rounding constant. It is used only where its
requantisation is provably TFLite's (:func:`fast_eligible`); anything else keeps the portable kernel.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from generator.codegen.context import Lowering, Weighted, stacked_const
from generator.codegen.schedule import Arg, Call, ConstRef, Literal

I32_MAX = 2**31 - 1
# |x + in_offset| for int8 x and a zero point in [-128, 127]
MAX_TAP_INPUT = 255


def fast_words(n: int, k: int) -> int:
    """int32 words of the fast stream for ``n`` channels of ``k`` taps (``mcuf_dwconv_fast_words``)."""
    return (n // 4) * (4 + 2 * k + 12) + ((n & 2) >> 1) * (2 + k + 6) + (n & 1) * (1 + k + 3)


def _pairs(lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)


def fast_stream(w3: npt.NDArray[np.int8], bias: npt.NDArray[np.int32] | None,
                mult: npt.NDArray[np.int32], shift: npt.NDArray[np.int32], in_offset: int,
                out_offset: int) -> npt.NDArray[np.int32]:
    """The int32 stream ``mcuf_dwconv2d_fast_s8`` reads for a [k_h][k_w][n] filter: per group of
    four channels (then a remaining pair, then an odd last channel) the folded biases
    2 (bias + in_offset * sum w), the doubled filter as int16 pairs per tap ((c, c+2), (c+1, c+3)
    for four channels; (c, c+1) for a pair; (c, 0) for one), and per channel {m, K, r} with
    r = -shift and K = 2^(r-1) + (out_offset << r). Needs :func:`fast_eligible`."""
    kh, kw, n = w3.shape
    w = 2 * w3.reshape(kh * kw, n).astype(np.int64)
    b = np.zeros(n, np.int64) if bias is None else np.asarray(bias, np.int64)
    folded = 2 * b + np.int64(in_offset) * w.sum(axis=0)
    r = -np.asarray(shift, np.int64)
    rec = np.stack([np.asarray(mult, np.int64), (np.int64(1) << (r - 1))
                    + (np.int64(out_offset) << r), r], axis=1)
    parts: list[npt.NDArray[np.int64]] = []
    c = 0
    while c < n:
        width = 4 if n - c >= 4 else 2 if n - c >= 2 else 1
        cs = slice(c, c + width)
        if width == 4:
            taps = np.stack([_pairs(w[:, c], w[:, c + 2]), _pairs(w[:, c + 1], w[:, c + 3])],
                            axis=1).reshape(-1)
        elif width == 2:
            taps = _pairs(w[:, c], w[:, c + 1])
        else:
            taps = _pairs(w[:, c], np.zeros_like(w[:, c]))
        parts += [folded[cs], taps, rec[cs].reshape(-1)]
        c += width
    flat = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    assert flat.size == fast_words(n, kh * kw)
    return flat.astype(np.uint32).view(np.int32)


def fast_eligible(w3: npt.NDArray[np.int8], bias: npt.NDArray[np.int32] | None,
                  mult: npt.NDArray[np.int32], shift: npt.NDArray[np.int32], out_offset: int,
                  depth_mult: int) -> bool:
    """True if the fast kernel's arithmetic is exactly TFLite's for every possible input:
    depth multiplier 1; every shift a right shift (r >= 1); the accumulator bound
    B = |bias| + 256 * sum|w| below 2^30 (so the doubled accumulator stays in int32); and
    v + K - 1 and v + K within int32 for |v| <= B (v, the high product, is at most |acc|)."""
    if depth_mult != 1 or w3.shape[0] > 32 or w3.shape[1] > 32:
        return False
    n = w3.shape[-1]
    sh = np.asarray(shift, np.int64)
    if len(sh) != n or np.any(sh >= 0) or np.any(sh < -31):
        return False
    b = np.zeros(n, np.int64) if bias is None else np.abs(np.asarray(bias, np.int64))
    bound = b + (MAX_TAP_INPUT + 1) * np.abs(w3.reshape(-1, n).astype(np.int64)).sum(axis=0)
    if np.any(bound >= 2**30):
        return False
    r = -sh
    k = (np.int64(1) << (r - 1)) + (np.int64(out_offset) << r)
    return bool(np.all(bound + k <= I32_MAX) and np.all(k - bound - 1 >= -(2**31)))


# ---- lowering: the calls, when the fast kernel is exact ------------------------------------------


def _streams(lw: Lowering, name: str, k: Weighted, p: dict[str, int],
             ranges: list[tuple[int, int]]) -> list[ConstRef] | None:
    """One stream per channel range of the layer, back to back in constant ``name``; None if the
    fast kernel is not exact for this layer."""
    w3 = k.weights.reshape(k.weights.shape[1], k.weights.shape[2], -1)
    if not fast_eligible(w3, k.bias, k.mult, k.shift, p["out_offset"], p["depth_mult"]):
        return None
    blocks = []
    for lo, hi in ranges:
        bias = None if k.bias is None else k.bias[lo:hi]
        blocks.append(fast_stream(w3[:, :, lo:hi], bias, k.mult[lo:hi], k.shift[lo:hi],
                                  p["in_offset"], p["out_offset"]))
    return stacked_const(lw, name, blocks)


def fast_call(lw: Lowering, i: int, k: Weighted, p: dict[str, int], src: Arg, dst: Arg,
              ranges: list[tuple[int, int]], index: int, comment: str) -> Call | None:
    """``mcuf_dwconv2d_fast_s8`` for DEPTHWISE_CONV_2D op ``i`` on channel range ``ranges[index]``
    (``ranges``: every range the layer is cut into, one stream each), or None where the portable
    kernel must run."""
    refs = _streams(lw, f"op{i}_dwf_s{len(ranges)}", k, p, ranges)
    if refs is None:
        return None
    return Call("mcuf_dwconv2d_fast_s8", (src, refs[index], dst), "mcuf_dwconv_params",
                tuple(p.items()), comment, i)


def by_rows(p: dict[str, int], tmp_bytes: int) -> bool:
    """True if the in-place kernel can work by rows (``groups`` 0): stride 1, the output the input's
    size and pixel stride, and ``tmp_bytes`` holding pad_top + 1 rows."""
    same = (p["out_h"], p["out_w"], p["out_cs"]) == (p["in_h"], p["in_w"], p["in_cs"])
    rows = (p["pad_top"] + 1) * p["in_w"] * p["in_cs"]
    return same and p["stride_h"] == p["stride_w"] == 1 and 0 <= p["pad_top"] and rows <= tmp_bytes


def fast_inplace_call(lw: Lowering, i: int, k: Weighted, p: dict[str, int], buf: Arg, tmp: Arg,
                      groups: int, tmp_bytes: int, comment: str) -> Call | None:
    """``mcuf_dwconv2d_inplace_fast_s8``, by rows where :func:`by_rows` allows (one stream), else
    with ``groups`` channel groups (split as the C does: channels c * j // groups ..
    c * (j + 1) // groups, a stream each); None where the portable kernel must run."""
    c = p["in_c"]
    rows = by_rows(p, tmp_bytes)
    ranges = [(0, c)] if rows else [(c * j // groups, c * (j + 1) // groups) for j in range(groups)]
    refs = _streams(lw, f"op{i}_dwf_s1" if rows else f"op{i}_dwf_g{groups}", k, p, ranges)
    if refs is None:
        return None
    return Call("mcuf_dwconv2d_inplace_fast_s8", (buf, refs[0], tmp, Literal(str(0 if rows else groups))),
                "mcuf_dwconv_params", tuple(p.items()), comment, i)
