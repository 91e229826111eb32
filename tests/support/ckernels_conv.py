"""ctypes mirrors of the fast CONV_2D kernels (mcuf_conv_fast.c, the fast in-place 1x1 form).

The compile-time constants come from the code generator's own functions
(generator/codegen/conv_fast.py), so a test exercises exactly what the generated engine runs.
"""

from __future__ import annotations

import ctypes
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.codegen import conv_fast as cf
from generator.resources import runtime_dir
from tests.support import ckernels as ck
from tests.support.cruntime import CFLAGS

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]



@cache
def lib() -> ctypes.CDLL:
    rt = runtime_dir()
    out = Path(tempfile.mkdtemp(prefix="mcuf_convf_")) / "libmcuf_convf.so"
    sources = sorted(str(s) for s in (rt / "src").glob("*.c"))  # in-place forms share a file
    cmd = ["gcc", *CFLAGS, f"-I{rt / 'include'}", *sources, "-o", str(out), "-lm"]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"kernel build failed:\n{res.stderr}")
    so = ctypes.CDLL(str(out))
    p, i32 = ctypes.c_void_p, ctypes.c_int32
    for name, args in {
        "mcuf_conv2d_fast_s8": [p] * 7,
        "mcuf_conv2d_fast_s8_acc": [p] * 5,
        "mcuf_conv1x1_inplace_fast_s8": [p] * 6 + [i32, p],
        "mcuf_conv1x1_inplace_s8": [p] * 7 + [i32],
    }.items():
        fn = getattr(so, name)
        fn.argtypes = args
        fn.restype = None
    return so


def _cols(k_hw: tuple[int, int], in_c: int) -> I32:
    """Column scratch (columns and stage, as conv_fast.cols_bytes counts for a conv that gathers),
    pre-filled with garbage: the kernel must not depend on its contents."""
    n = cf.padded_depth(k_hw[0] * k_hw[1] * in_c)
    return np.full(n + n // 4, 0x5A5A5A5A, dtype=np.int32)


def conv2d_fast(x: I8, filt: I8, bias: npt.ArrayLike | None, mult: npt.ArrayLike,
                shift: npt.ArrayLike, win: ck.Window, q: ck.Quant, out: I8 | None = None,
                scratch: bool = True) -> I8:
    """mcuf_conv2d_fast_s8 with the generator's fast filter and folded bias; ``filt`` is OHWI.
    ``scratch`` False: no column scratch (cols NULL), as where the planner grants none."""
    oc, kh, kw, ic = filt.shape
    y = ck._out_map(out, (win.out_h, win.out_w, oc))
    p = ck.conv_params(x, (kh, kw), oc, win, q, ck.hwc(y)[3])
    b = None if bias is None else np.asarray(bias, dtype=np.int32)
    wf = cf.fast_filter(filt)
    bf = cf.folded_bias(filt, b, q.in_offset)
    rq = cf.requant_records(filt, bf, np.asarray(mult, np.int32), np.asarray(shift, np.int32))
    lib().mcuf_conv2d_fast_s8(ctypes.byref(p), x.ctypes, wf.ctypes, bf.ctypes, rq.ctypes,
                              y.ctypes, _cols((kh, kw), ic).ctypes if scratch else None)
    return y


def conv2d_fast_acc(x: I8, filt: I8, win: ck.Window, in_offset: int, acc: I32) -> None:
    """mcuf_conv2d_fast_s8_acc: acc += sum(x * w) over this slice (padded taps read the zero point)."""
    oc, kh, kw, ic = filt.shape
    if acc.shape != (win.out_h, win.out_w, oc) or acc.dtype != np.int32 or not acc.flags.c_contiguous:
        raise ValueError(f"accumulator is {acc.dtype}{acc.shape}")
    p = ck.conv_params(x, (kh, kw), oc, win, ck.Quant(in_offset=in_offset))
    wf = cf.fast_filter(filt)
    lib().mcuf_conv2d_fast_s8_acc(ctypes.byref(p), x.ctypes, wf.ctypes, acc.ctypes,
                                  _cols((kh, kw), ic).ctypes)


def conv1x1_inplace(buf: I8, shape: tuple[int, int, int], filt: I8, bias: npt.ArrayLike | None,
                    mult: npt.ArrayLike, shift: npt.ArrayLike, q: ck.Quant, block: int,
                    fast: bool) -> None:
    """The in-place 1x1 conv on ``buf`` (an h x w x in_c map, dense); the output (out_c channels,
    pixel stride out_c) overwrites it from the start."""
    h, w, ic = shape
    oc = filt.shape[0]
    p = ck.ConvParams(h, w, ic, ic, h, w, oc, oc, 1, 1, 1, 1, 1, 1, 0, 0, q.in_offset,
                      q.out_offset, q.act_min, q.act_max)
    tmp = np.zeros(block * oc, dtype=np.int8)
    m = np.ascontiguousarray(mult, dtype=np.int32)
    s = np.ascontiguousarray(shift, dtype=np.int32)
    b = None if bias is None else np.asarray(bias, dtype=np.int32)
    if fast:
        wf = cf.fast_filter(filt)
        bf = cf.folded_bias(filt, b, q.in_offset)
        rq = cf.requant_records(filt, bf, m, s)
        lib().mcuf_conv1x1_inplace_fast_s8(ctypes.byref(p), buf.ctypes, wf.ctypes, bf.ctypes,
                                           rq.ctypes, tmp.ctypes, block, _cols((1, 1), ic).ctypes)
    else:
        bb: Any = None if b is None else b.ctypes
        lib().mcuf_conv1x1_inplace_s8(ctypes.byref(p), buf.ctypes,
                                      np.ascontiguousarray(filt).ctypes, bb, m.ctypes, s.ctypes,
                                      tmp.ctypes, block)
