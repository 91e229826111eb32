"""ctypes wrappers of the fast DEPTHWISE_CONV_2D kernels (``mcuf_dwconv_fast.c``, ``mcuf_inplace.c``).

The stream each call reads is built by the code generator's own :mod:`generator.codegen.dw_fast`, so a
test exercises the layout and the kernel together. Maps are NumPy HWC arrays; a channel slice of a
wider map is passed with its pixel stride, as in :mod:`tests.support.ckernels`.
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.codegen import dw_fast
from tests.support import ckernels as ck
from tests.support.cruntime import runtime_lib

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]


@cache
def lib() -> ctypes.CDLL:
    so = runtime_lib()
    p, i32 = ctypes.c_void_p, ctypes.c_int32
    so.mcuf_dwconv2d_fast_s8.argtypes = [p] * 4
    so.mcuf_dwconv2d_fast_s8.restype = None
    so.mcuf_dwconv2d_inplace_fast_s8.argtypes = [p, p, p, p, i32]
    so.mcuf_dwconv2d_inplace_fast_s8.restype = None
    so.mcuf_dwconv2d_inplace_s8.argtypes = [p] * 7 + [i32]
    so.mcuf_dwconv2d_inplace_s8.restype = None
    so.mcuf_dwconv_fast_words.argtypes = [i32, i32]
    so.mcuf_dwconv_fast_words.restype = i32
    return so


def params(x: I8, k_hw: tuple[int, int], win: ck.Window, q: ck.Quant, out_cs: int) -> Any:
    """mcuf_dwconv_params of a depth-multiplier-1 call on map ``x`` (a view: its pixel stride)."""
    h, w, c, cs = ck.hwc(x)
    return ck.DwConvParams(h, w, c, cs, win.out_h, win.out_w, c, out_cs, k_hw[0], k_hw[1],
                           win.stride_h, win.stride_w, win.dil_h, win.dil_w, win.pad_top,
                           win.pad_left, 1, q.in_offset, q.out_offset, q.act_min, q.act_max)


def stream(filt: I8, bias: I32 | None, mult: I32, shift: I32, q: ck.Quant) -> I32:
    return dw_fast.fast_stream(filt, bias, mult, shift, q.in_offset, q.out_offset)


def dwconv_fast(x: I8, filt: I8, bias: I32 | None, mult: I32, shift: I32, win: ck.Window,
                q: ck.Quant, out: I8 | None = None) -> I8:
    """mcuf_dwconv2d_fast_s8; ``filt`` is [k_h][k_w][c]; ``out`` may be a slice of a wider map."""
    kh, kw, c = filt.shape
    y = np.zeros((win.out_h, win.out_w, c), dtype=np.int8) if out is None else out
    p = params(x, (kh, kw), win, q, ck.hwc(y)[3])
    s = stream(filt, bias, mult, shift, q)
    lib().mcuf_dwconv2d_fast_s8(ctypes.byref(p), x.ctypes, s.ctypes, y.ctypes)
    return y


def group_ranges(c: int, groups: int) -> list[tuple[int, int]]:
    """The channel groups of the in-place kernels (as the C splits them)."""
    return [(c * j // groups, c * (j + 1) // groups) for j in range(groups)]


def dwconv_inplace(buf: I8, filt: I8, bias: I32 | None, mult: I32, shift: I32, win: ck.Window,
                   q: ck.Quant, groups: int, fast: bool) -> None:
    """The in-place depthwise kernel (fast or portable) on the dense map ``buf``, stride 1 SAME,
    output shape = input shape; ``buf`` is overwritten with the output."""
    kh, kw, c = filt.shape
    p = params(buf, (kh, kw), win, q, c)
    ranges = group_ranges(c, groups)
    tmp = np.zeros(win.out_h * win.out_w * max(hi - lo for lo, hi in ranges), dtype=np.int8)
    if fast:
        s = np.concatenate([stream(filt[:, :, lo:hi], None if bias is None else bias[lo:hi],
                                   mult[lo:hi], shift[lo:hi], q) for lo, hi in ranges])
        lib().mcuf_dwconv2d_inplace_fast_s8(ctypes.byref(p), buf.ctypes, s.ctypes, tmp.ctypes,
                                            groups)
        return
    wg = np.concatenate([filt[:, :, lo:hi].reshape(-1) for lo, hi in ranges]).astype(np.int8)
    b = None if bias is None else np.ascontiguousarray(bias, dtype=np.int32)
    lib().mcuf_dwconv2d_inplace_s8(ctypes.byref(p), buf.ctypes, wg.ctypes,
                                   None if b is None else b.ctypes,
                                   np.ascontiguousarray(mult, np.int32).ctypes,
                                   np.ascontiguousarray(shift, np.int32).ctypes, tmp.ctypes, groups)
