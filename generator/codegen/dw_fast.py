"""Compile-time constants of the fast DEPTHWISE_CONV_2D kernel (``mcuf_dwconv_fast.c``).

The fast kernel reads one int32 stream per call: folded biases, the doubled filter as int16 pairs
laid out for its inner loop, and per channel a record that folds the output zero point into the
rounding constant. It is used only where its
requantisation is provably TFLite's (:func:`fast_eligible`); anything else keeps the portable kernel.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

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
