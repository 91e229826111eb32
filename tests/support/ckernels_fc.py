"""ctypes mirrors of the packed FULLY_CONNECTED kernels (``mcuf_fc_packed.c``), built on the host
(the portable path: no DSP extension there) beside the portable kernels of ``mcuf_fc.c``."""

from __future__ import annotations

import ctypes
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.codegen.lower_fc import pack_fc_weights
from generator.resources import runtime_dir
from tests.support import ckernels as ck
from tests.support.cruntime import CFLAGS

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]

SOURCES = ("mcuf_fixedpoint.c", "mcuf_fc.c", "mcuf_fc_packed.c")


@cache
def lib() -> ctypes.CDLL:
    rt = runtime_dir()
    out = Path(tempfile.mkdtemp(prefix="mcuf_fc_")) / "libmcuf_fc.so"
    cmd = ["gcc", *CFLAGS, f"-I{rt / 'include'}", *(str(rt / "src" / s) for s in SOURCES),
           "-o", str(out)]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"kernel build failed:\n{res.stderr}")
    so = ctypes.CDLL(str(out))
    p = ctypes.c_void_p
    for name, n in (("mcuf_fc_packed_s8", 7), ("mcuf_fc_packed_s8_f64", 6),
                    ("mcuf_fc_packed_s8_acc", 4)):
        fn = getattr(so, name)
        fn.argtypes = [p] * n
        fn.restype = None
    return so


def _params(x: I8, in_n: int, out_n: int, q: ck.Quant, per_channel: bool) -> Any:
    if x.ndim != 2 or x.shape[1] != in_n or not x.flags.c_contiguous:
        raise ValueError(f"input must be dense [batches][{in_n}], got {x.shape}")
    return ck.FcParams(x.shape[0], in_n, out_n, q.in_offset, q.out_offset, q.act_min, q.act_max,
                       int(per_channel))


def _arr(a: npt.ArrayLike, dtype: type[np.generic]) -> npt.NDArray[Any]:
    return np.ascontiguousarray(a, dtype=dtype)


def fc_packed(x: I8, w: I8, bias_f: npt.ArrayLike, mult: npt.ArrayLike, shift: npt.ArrayLike,
              q: ck.Quant, per_channel: bool) -> I8:
    """mcuf_fc_packed_s8 on ``w`` ([out_n][in_n], packed here) with the folded bias."""
    out_n, in_n = w.shape
    p = _params(x, in_n, out_n, q, per_channel)
    y = np.zeros((x.shape[0], out_n), dtype=np.int8)
    lib().mcuf_fc_packed_s8(ctypes.byref(p), x.ctypes, pack_fc_weights(w).ctypes,
                            _arr(bias_f, np.int32).ctypes, _arr(mult, np.int32).ctypes,
                            _arr(shift, np.int32).ctypes, y.ctypes)
    return y


def fc_packed_f64(x: I8, w: I8, bias_f: npt.ArrayLike, scale: npt.ArrayLike, q: ck.Quant,
                  per_channel: bool) -> I8:
    """mcuf_fc_packed_s8_f64: the reference kernel's double rescale."""
    out_n, in_n = w.shape
    p = _params(x, in_n, out_n, q, per_channel)
    y = np.zeros((x.shape[0], out_n), dtype=np.int8)
    lib().mcuf_fc_packed_s8_f64(ctypes.byref(p), x.ctypes, pack_fc_weights(w).ctypes,
                                _arr(bias_f, np.int32).ctypes, _arr(scale, np.float64).ctypes,
                                y.ctypes)
    return y


def fc_packed_acc(x: I8, w: I8, acc: I32) -> None:
    """mcuf_fc_packed_s8_acc: acc [batches][out_n] += x @ w.T (no offset: it is in the bias)."""
    out_n, in_n = w.shape
    if acc.shape != (x.shape[0], out_n) or acc.dtype != np.int32 or not acc.flags.c_contiguous:
        raise ValueError(f"accumulator is {acc.dtype}{acc.shape}")
    p = _params(x, in_n, out_n, ck.Quant(), False)
    lib().mcuf_fc_packed_s8_acc(ctypes.byref(p), x.ctypes, pack_fc_weights(w).ctypes, acc.ctypes)
