"""ctypes mirrors of the linear / pooling / data-movement kernels, with thin NumPy wrappers.

Feature maps are passed as NumPy HWC arrays. A wrapper derives each map's pixel stride from the array's
strides, so a channel slice of a wider map (``wide[:, :, lo:hi]``) is handed to the kernel as a pointer
to its first element plus ``cs = wide.shape[2]``, exactly as the generated code addresses slices.
"""

from __future__ import annotations

import ctypes
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.resources import runtime_dir
from tests.support.cruntime import CFLAGS

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]

SOURCES = ("mcuf_fixedpoint.c", "mcuf_conv.c", "mcuf_dwconv.c", "mcuf_fc.c", "mcuf_pool.c",
           "mcuf_move.c")


def _struct(name: str, fields: str, extra: tuple[tuple[str, Any], ...] = ()) -> type[ctypes.Structure]:
    layout = [(f, ctypes.c_int32) for f in fields.split()] + list(extra)
    return type(name, (ctypes.Structure,), {"_fields_": layout})


ConvParams = _struct(
    "ConvParams",
    "in_h in_w in_c in_cs out_h out_w out_c out_cs k_h k_w stride_h stride_w dil_h dil_w "
    "pad_top pad_left in_offset out_offset act_min act_max",
)
DwConvParams = _struct(
    "DwConvParams",
    "in_h in_w in_c in_cs out_h out_w out_c out_cs k_h k_w stride_h stride_w dil_h dil_w "
    "pad_top pad_left depth_mult in_offset out_offset act_min act_max",
)
FcParams = _struct("FcParams", "batches in_n out_n in_offset out_offset act_min act_max per_channel")
PoolParams = _struct(
    "PoolParams",
    "in_h in_w c in_cs out_h out_w out_cs k_h k_w stride_h stride_w pad_top pad_left act_min act_max",
)
PadParams = _struct(
    "PadParams",
    "in_h in_w in_c in_cs pad_top pad_bottom pad_left pad_right pad_c_before pad_c_after out_cs",
    (("pad_value", ctypes.c_int8),),
)


@cache
def lib() -> ctypes.CDLL:
    """The kernels of this file, built alone (independent of other runtime sources)."""
    rt = runtime_dir()
    out = Path(tempfile.mkdtemp(prefix="mcuf_linear_")) / "libmcuf_linear.so"
    cmd = ["gcc", *CFLAGS, f"-I{rt / 'include'}", *(str(rt / "src" / s) for s in SOURCES),
           "-o", str(out), "-lm"]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"kernel build failed:\n{res.stderr}")
    so = ctypes.CDLL(str(out))
    p, i32, f32 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_float
    sigs: dict[str, list[Any]] = {
        "mcuf_conv2d_s8": [p] * 7,
        "mcuf_conv2d_s8_acc": [p] * 4,
        "mcuf_requant_s32": [i32, i32, p, p, p, p, i32, i32, i32, p, i32],
        "mcuf_dwconv2d_s8": [p] * 7,
        "mcuf_fc_s8": [p] * 7,
        "mcuf_fc_s8_f64": [p] * 6,
        "mcuf_fc_s8_acc": [p] * 4,
        "mcuf_requant_s32_f64": [i32, i32, p, p, p, i32, i32, i32, p, i32],
        "mcuf_avgpool_s8": [p] * 3,
        "mcuf_maxpool_s8": [p] * 3,
        "mcuf_pad_s8": [p] * 3,
        "mcuf_copy_rows_s8": [i32, i32, p, i32, p, i32],
        "mcuf_requant_rows_s8": [i32, i32, p, i32, p, i32, f32, f32, i32],
    }
    for name, args in sigs.items():
        fn = getattr(so, name)
        fn.argtypes = args
        fn.restype = None
    return so


# ---- geometry and quantisation of one call --------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Stride, dilation, padding before, and output size of a sliding-window op."""

    out_h: int
    out_w: int
    stride_h: int = 1
    stride_w: int = 1
    dil_h: int = 1
    dil_w: int = 1
    pad_top: int = 0
    pad_left: int = 0


@dataclass(frozen=True)
class Quant:
    """in_offset (negated input zero point), out_offset (output zero point) and the clamp."""

    in_offset: int = 0
    out_offset: int = 0
    act_min: int = -128
    act_max: int = 127


def _ptr(a: npt.NDArray[Any] | None) -> Any:
    """A ctypes argument for the array's first element. The returned object holds a reference to
    the array, so a temporary (e.g. ``_ptr(_vec(...))``) stays alive for the whole call."""
    return None if a is None else a.ctypes


def _vec(a: npt.ArrayLike | None, dtype: type[np.generic]) -> npt.NDArray[Any] | None:
    return None if a is None else np.ascontiguousarray(a, dtype=dtype)


def hwc(a: npt.NDArray[Any]) -> tuple[int, int, int, int]:
    """(h, w, c, cs) of an HWC array whose pixels are ``cs`` elements apart and channels adjacent."""
    if a.ndim != 3:
        raise ValueError(f"expected an HWC array, got shape {a.shape}")
    h, w, c = a.shape
    item = a.itemsize
    cs = a.strides[1] // item if w > 1 else a.strides[0] // item if h > 1 else c
    if (c > 1 and a.strides[2] != item) or (h > 1 and a.strides[0] != w * cs * item) or cs < c:
        raise ValueError(f"array strides {a.strides} are not an HWC map with a pixel stride")
    return h, w, c, cs


def _out_map(out: I8 | None, shape: tuple[int, int, int]) -> I8:
    if out is None:
        return np.zeros(shape, dtype=np.int8)
    if out.shape != shape or out.dtype != np.int8:
        raise ValueError(f"output is {out.dtype}{out.shape}, expected int8{shape}")
    return out


# ---- CONV_2D ----------------------------------------------------------------------------------------


def conv_params(x: I8, k_hw: tuple[int, int], out_c: int, win: Window, q: Quant,
                out_cs: int | None = None) -> Any:
    h, w, c, cs = hwc(x)
    return ConvParams(h, w, c, cs, win.out_h, win.out_w, out_c, out_c if out_cs is None else out_cs,
                      k_hw[0], k_hw[1], win.stride_h, win.stride_w, win.dil_h, win.dil_w,
                      win.pad_top, win.pad_left, q.in_offset, q.out_offset, q.act_min, q.act_max)


def conv2d(x: I8, filt: I8, bias: npt.ArrayLike | None, mult: npt.ArrayLike, shift: npt.ArrayLike,
           win: Window, q: Quant, out: I8 | None = None) -> I8:
    """mcuf_conv2d_s8; ``filt`` is [out_c][k_h][k_w][in_c] (TFLite OHWI)."""
    oc, kh, kw, _ = filt.shape
    y = _out_map(out, (win.out_h, win.out_w, oc))
    p = conv_params(x, (kh, kw), oc, win, q, hwc(y)[3])
    lib().mcuf_conv2d_s8(ctypes.byref(p), _ptr(x), _ptr(_vec(filt, np.int8)),
                         _ptr(_vec(bias, np.int32)), _ptr(_vec(mult, np.int32)),
                         _ptr(_vec(shift, np.int32)), _ptr(y))
    return y


def conv2d_acc(x: I8, filt: I8, win: Window, in_offset: int, acc: I32) -> None:
    """mcuf_conv2d_s8_acc: adds this input-channel slice's sums into ``acc`` [out_h][out_w][out_c]."""
    oc, kh, kw, _ = filt.shape
    _check_acc(acc, (win.out_h, win.out_w, oc))
    p = conv_params(x, (kh, kw), oc, win, Quant(in_offset=in_offset))
    lib().mcuf_conv2d_s8_acc(ctypes.byref(p), _ptr(x), _ptr(_vec(filt, np.int8)), _ptr(acc))


def requant(acc: I32, bias: npt.ArrayLike | None, mult: npt.ArrayLike, shift: npt.ArrayLike,
            q: Quant, out: I8 | None = None) -> I8:
    """mcuf_requant_s32 on a dense [n][c] accumulator; ``out`` may be a [n][c] view whose rows
    (pixels) are further apart than c, e.g. ``wide.reshape(n, -1)[:, lo:hi]``."""
    if acc.ndim != 2:
        raise ValueError(f"accumulator must be [n][c], got {acc.shape}")
    n, c = acc.shape
    y = np.zeros((n, c), dtype=np.int8) if out is None else out
    if y.shape != (n, c):
        raise ValueError(f"output is {y.shape}, expected {(n, c)}")
    out_cs = _rows(y)[2]
    lib().mcuf_requant_s32(n, c, _ptr(np.ascontiguousarray(acc, dtype=np.int32)),
                           _ptr(_vec(bias, np.int32)), _ptr(_vec(mult, np.int32)),
                           _ptr(_vec(shift, np.int32)), q.out_offset, q.act_min, q.act_max,
                           _ptr(y), out_cs)
    return y


def requant_f64(acc: I32, bias: npt.ArrayLike | None, scale: npt.ArrayLike, q: Quant,
                out: I8 | None = None) -> I8:
    """mcuf_requant_s32_f64 on a dense [n][c] accumulator, as :func:`requant`."""
    if acc.ndim != 2:
        raise ValueError(f"accumulator must be [n][c], got {acc.shape}")
    n, c = acc.shape
    y = np.zeros((n, c), dtype=np.int8) if out is None else out
    if y.shape != (n, c):
        raise ValueError(f"output is {y.shape}, expected {(n, c)}")
    lib().mcuf_requant_s32_f64(n, c, _ptr(np.ascontiguousarray(acc, dtype=np.int32)),
                               _ptr(_vec(bias, np.int32)), _ptr(_vec(scale, np.float64)),
                               q.out_offset, q.act_min, q.act_max, _ptr(y), _rows(y)[2])
    return y


def _check_acc(acc: I32, shape: tuple[int, ...]) -> None:
    if acc.shape != shape or acc.dtype != np.int32 or not acc.flags.c_contiguous:
        raise ValueError(f"accumulator is {acc.dtype}{acc.shape}, expected dense int32{shape}")


# ---- DEPTHWISE_CONV_2D ------------------------------------------------------------------------------


def dwconv2d(x: I8, filt: I8, bias: npt.ArrayLike | None, mult: npt.ArrayLike, shift: npt.ArrayLike,
             win: Window, q: Quant, out: I8 | None = None) -> I8:
    """mcuf_dwconv2d_s8; ``filt`` is [k_h][k_w][out_c] with out_c = in_c * depth multiplier."""
    h, w, c, cs = hwc(x)
    kh, kw, oc = filt.shape
    y = _out_map(out, (win.out_h, win.out_w, oc))
    p = DwConvParams(h, w, c, cs, win.out_h, win.out_w, oc, hwc(y)[3], kh, kw, win.stride_h,
                     win.stride_w, win.dil_h, win.dil_w, win.pad_top, win.pad_left, oc // c,
                     q.in_offset, q.out_offset, q.act_min, q.act_max)
    lib().mcuf_dwconv2d_s8(ctypes.byref(p), _ptr(x), _ptr(_vec(filt, np.int8)),
                           _ptr(_vec(bias, np.int32)), _ptr(_vec(mult, np.int32)),
                           _ptr(_vec(shift, np.int32)), _ptr(y))
    return y


# ---- FULLY_CONNECTED --------------------------------------------------------------------------------


def _fc_params(x: I8, weights: I8, q: Quant, per_channel: bool) -> Any:
    out_n, in_n = weights.shape
    if x.ndim != 2 or x.shape[1] != in_n or not x.flags.c_contiguous:
        raise ValueError(f"input must be dense [batches][{in_n}], got {x.shape}")
    return FcParams(x.shape[0], in_n, out_n, q.in_offset, q.out_offset, q.act_min, q.act_max,
                    int(per_channel))


def fc(x: I8, weights: I8, bias: npt.ArrayLike | None, mult: npt.ArrayLike, shift: npt.ArrayLike,
       q: Quant, per_channel: bool) -> I8:
    """mcuf_fc_s8; ``x`` is [batches][in_n], ``weights`` [out_n][in_n]."""
    p = _fc_params(x, weights, q, per_channel)
    y = np.zeros((x.shape[0], weights.shape[0]), dtype=np.int8)
    lib().mcuf_fc_s8(ctypes.byref(p), _ptr(x), _ptr(_vec(weights, np.int8)),
                     _ptr(_vec(bias, np.int32)), _ptr(_vec(mult, np.int32)),
                     _ptr(_vec(shift, np.int32)), _ptr(y))
    return y


def fc_f64(x: I8, weights: I8, bias: npt.ArrayLike | None, scale: npt.ArrayLike, q: Quant,
           per_channel: bool) -> I8:
    """mcuf_fc_s8_f64: the reference kernel's double-precision rescale by ``scale``."""
    p = _fc_params(x, weights, q, per_channel)
    y = np.zeros((x.shape[0], weights.shape[0]), dtype=np.int8)
    lib().mcuf_fc_s8_f64(ctypes.byref(p), _ptr(x), _ptr(_vec(weights, np.int8)),
                         _ptr(_vec(bias, np.int32)), _ptr(_vec(scale, np.float64)), _ptr(y))
    return y


def fc_acc(x: I8, weights: I8, in_offset: int, acc: I32) -> None:
    """mcuf_fc_s8_acc: adds this input slice's sums into ``acc`` [batches][out_n]."""
    p = _fc_params(x, weights, Quant(in_offset=in_offset), False)
    _check_acc(acc, (x.shape[0], weights.shape[0]))
    lib().mcuf_fc_s8_acc(ctypes.byref(p), _ptr(x), _ptr(_vec(weights, np.int8)), _ptr(acc))


# ---- pooling ----------------------------------------------------------------------------------------


def _pool(func: str, x: I8, k_hw: tuple[int, int], win: Window, q: Quant, out: I8 | None) -> I8:
    h, w, c, cs = hwc(x)
    y = _out_map(out, (win.out_h, win.out_w, c))
    p = PoolParams(h, w, c, cs, win.out_h, win.out_w, hwc(y)[3], k_hw[0], k_hw[1], win.stride_h,
                   win.stride_w, win.pad_top, win.pad_left, q.act_min, q.act_max)
    getattr(lib(), func)(ctypes.byref(p), _ptr(x), _ptr(y))
    return y


def avgpool(x: I8, k_hw: tuple[int, int], win: Window, q: Quant, out: I8 | None = None) -> I8:
    return _pool("mcuf_avgpool_s8", x, k_hw, win, q, out)


def maxpool(x: I8, k_hw: tuple[int, int], win: Window, q: Quant, out: I8 | None = None) -> I8:
    return _pool("mcuf_maxpool_s8", x, k_hw, win, q, out)


# ---- data movement ----------------------------------------------------------------------------------


def pad(x: I8, pads: tuple[tuple[int, int], ...], value: int, out: I8 | None = None) -> I8:
    """mcuf_pad_s8; ``pads`` is ((top, bottom), (left, right), (c_before, c_after))."""
    h, w, c, cs = hwc(x)
    (t, b), (le, r), (cb, ca) = pads
    y = _out_map(out, (h + t + b, w + le + r, c + cb + ca))
    p = PadParams(h, w, c, cs, t, b, le, r, cb, ca, hwc(y)[3], value)
    lib().mcuf_pad_s8(ctypes.byref(p), _ptr(x), _ptr(y))
    return y


def _rows(a: npt.NDArray[np.int8]) -> tuple[int, int, int]:
    """(rows, len, pitch) of a 2-D int8 array whose elements within a row are adjacent."""
    if a.ndim != 2 or (a.shape[1] > 1 and a.strides[1] != 1):
        raise ValueError(f"expected 2-D rows of adjacent bytes, got strides {a.strides}")
    return a.shape[0], a.shape[1], a.strides[0]


def copy_rows(src: I8, dst: I8) -> None:
    """mcuf_copy_rows_s8 from the rows of ``src`` into the rows of ``dst`` (views; pitches from strides)."""
    rows, length, sp = _rows(src)
    if dst.shape != src.shape:
        raise ValueError(f"shapes differ: {src.shape} -> {dst.shape}")
    lib().mcuf_copy_rows_s8(rows, length, _ptr(src), sp, _ptr(dst), _rows(dst)[2])


def requant_rows(src: I8, dst: I8, scale: float, bias: float, out_zp: int) -> None:
    """mcuf_requant_rows_s8, the requantising form of :func:`copy_rows`."""
    rows, length, sp = _rows(src)
    if dst.shape != src.shape:
        raise ValueError(f"shapes differ: {src.shape} -> {dst.shape}")
    lib().mcuf_requant_rows_s8(rows, length, _ptr(src), sp, _ptr(dst), _rows(dst)[2],
                               float(scale), float(bias), out_zp)
