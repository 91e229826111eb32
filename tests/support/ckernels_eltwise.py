"""ctypes mirrors of the elementwise / activation / boundary kernels' structs, and NumPy wrappers.

The library is built from just these kernels' sources and the fixed-point helpers, so these tests do
not depend on the rest of the runtime compiling at the same moment.
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

from generator.codegen import qparams_eltwise as qe
from generator.codegen.qparams_eltwise import (
    AddParams,
    LogisticParams,
    MeanParams,
    MulParams,
    RequantizeParams,
    SoftmaxParams,
)
from generator.resources import runtime_dir
from tests.support.cruntime import CFLAGS

SOURCES = (
    "mcuf_fixedpoint.c",
    "mcuf_add.c",
    "mcuf_add_lut.c",
    "mcuf_mul.c",
    "mcuf_mean.c",
    "mcuf_softmax.c",
    "mcuf_logistic.c",
    "mcuf_quant.c",
)

I8 = npt.NDArray[np.int8]
_i32 = ctypes.c_int32
_P8 = ctypes.POINTER(ctypes.c_int8)
_PF = ctypes.POINTER(ctypes.c_float)


def _struct(name: str, fields: list[str]) -> type[ctypes.Structure]:
    return type(name, (ctypes.Structure,), {"_fields_": [(f, _i32) for f in fields]})


ADD_FIELDS = ["n", "c", "in1_ps", "in1_chs", "in2_ps", "in2_chs", "out_cs", "in1_offset",
              "in2_offset", "left_shift", "in1_mult", "in1_shift", "in2_mult", "in2_shift",
              "out_mult", "out_shift", "out_offset", "act_min", "act_max"]  # fmt: skip
MUL_FIELDS = ["n", "c", "in1_ps", "in1_chs", "in2_ps", "in2_chs", "out_cs", "in1_offset",
              "in2_offset", "out_mult", "out_shift", "out_offset", "act_min", "act_max"]  # fmt: skip
MEAN_FIELDS = ["in_h", "in_w", "c", "in_cs", "out_cs", "in_zp", "out_zp", "mult", "shift"]
SOFTMAX_FIELDS = ["rows", "depth", "input_beta_multiplier", "input_beta_left_shift", "diff_min"]

AddStruct = _struct("mcuf_add_params", ADD_FIELDS)
MulStruct = _struct("mcuf_mul_params", MUL_FIELDS)
MeanStruct = _struct("mcuf_mean_params", MEAN_FIELDS)
SoftmaxStruct = _struct("mcuf_softmax_params", SOFTMAX_FIELDS)


class LogisticStruct(ctypes.Structure):
    _fields_ = [("n", _i32), ("table", _P8)]


def c_sources() -> list[Path]:
    return [runtime_dir() / "src" / s for s in SOURCES]


@cache
def eltwise_lib() -> ctypes.CDLL:
    rt = runtime_dir()
    out = Path(tempfile.mkdtemp(prefix="mcuf_elt_")) / "libmcuf_elt.so"
    cmd = ["gcc", *CFLAGS, f"-I{rt / 'include'}", *map(str, c_sources()), "-o", str(out)]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"kernel build failed:\n{res.stderr}")
    lib = ctypes.CDLL(str(out))
    lib.mcuf_quantize_f32_s8.argtypes = [_i32, _PF, ctypes.c_float, _i32, _P8]
    lib.mcuf_dequantize_s8_f32.argtypes = [_i32, _P8, ctypes.c_float, _i32, _PF]
    lib.mcuf_requantize_s8.argtypes = [_i32, _P8, _i32, _i32, _i32, _i32, _P8]
    return lib


def _p8(a: npt.NDArray[Any]) -> Any:
    return a.ctypes.data_as(_P8)


def _fill(struct: ctypes.Structure, params: object, **geometry: int) -> ctypes.Structure:
    for field in struct._fields_:
        name = field[0]
        value = geometry[name] if name in geometry else getattr(params, name)
        setattr(struct, name, int(value))
    return struct


def _operand(x: I8, n: int, c: int) -> tuple[I8, int, int]:
    """An operand of an n-pixel, c-channel op by its shape: (n, c) a full map, (n, 1) one value per
    pixel, (c,) or (1, c) one per channel, one value a scalar. Returns (data, pixel stride,
    channel stride) as the kernel addresses it."""
    shape = tuple(np.shape(x))
    flat = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
    if flat.size == 1:
        return flat, 0, 0
    if shape == (n, c):
        return flat, c, 1
    if shape == (n, 1):
        return flat, 1, 0
    if shape in ((c,), (1, c)):
        return flat, 0, 1
    raise ValueError(f"operand of shape {shape} does not broadcast to ({n}, {c})")


def _binary(fn: Any, struct: ctypes.Structure, params: object, a: I8, b: I8, n: int, c: int) -> I8:
    a_, aps, achs = _operand(a, n, c)
    b_, bps, bchs = _operand(b, n, c)
    out = np.zeros(n * c, dtype=np.int8)
    s = _fill(
        struct, params, n=n, c=c, in1_ps=aps, in1_chs=achs, in2_ps=bps, in2_chs=bchs, out_cs=c
    )
    fn(ctypes.byref(s), _p8(a_), _p8(b_), _p8(out))
    return out


def add(params: AddParams, a: I8, b: I8, n: int, c: int) -> I8:
    """ADD of an n-pixel, c-channel map (operand shapes: see _operand); returns n * c values.
    Both ADD kernels run: the table one (what the lowering emits) must equal the plain one."""
    plain = _binary(eltwise_lib().mcuf_add_s8, AddStruct(), params, a, b, n, c)
    t1, t2 = (np.array(t, dtype=np.int32) for t in qe.add_tables(params))

    def lut(s: Any, x: Any, y: Any, out: Any) -> None:
        eltwise_lib().mcuf_add_lut_s8(s, t1.ctypes.data_as(ctypes.POINTER(_i32)),
                                      t2.ctypes.data_as(ctypes.POINTER(_i32)), x, y, out)

    tabled = _binary(lut, AddStruct(), params, a, b, n, c)
    np.testing.assert_array_equal(tabled, plain, err_msg="mcuf_add_lut_s8 vs mcuf_add_s8")
    return tabled


def mul(params: MulParams, a: I8, b: I8, n: int, c: int) -> I8:
    return _binary(eltwise_lib().mcuf_mul_s8, MulStruct(), params, a, b, n, c)


def mean_hw(params: MeanParams, x: I8) -> I8:
    """MEAN over H and W of an HWC (or 1HWC) map; returns C values."""
    h, w, c = x.shape[-3:]
    x_ = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
    out = np.zeros(c, dtype=np.int8)
    s = _fill(MeanStruct(), params, in_h=h, in_w=w, c=c, in_cs=c, out_cs=c)
    eltwise_lib().mcuf_mean_hw_s8(ctypes.byref(s), _p8(x_), _p8(out))
    return out


def softmax(params: SoftmaxParams, x: I8) -> I8:
    """SOFTMAX over the last axis."""
    depth = x.shape[-1]
    x_ = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
    out = np.zeros_like(x_)
    s = _fill(SoftmaxStruct(), params, rows=x_.size // depth, depth=depth)
    eltwise_lib().mcuf_softmax_s8(ctypes.byref(s), _p8(x_), _p8(out))
    return out.reshape(x.shape)


def logistic(params: LogisticParams, x: I8) -> I8:
    x_ = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
    table = np.array(params.table, dtype=np.int8)
    out = np.zeros_like(x_)
    s = LogisticStruct(x_.size, _p8(table))
    eltwise_lib().mcuf_logistic_s8(ctypes.byref(s), _p8(x_), _p8(out))
    return out.reshape(x.shape)


def quantize(x: npt.NDArray[np.float32], scale: float, zp: int) -> I8:
    x_ = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    out = np.zeros(x_.size, dtype=np.int8)
    eltwise_lib().mcuf_quantize_f32_s8(x_.size, x_.ctypes.data_as(_PF), scale, zp, _p8(out))
    return out.reshape(np.shape(x))


def dequantize(x: I8, scale: float, zp: int) -> npt.NDArray[np.float32]:
    x_ = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
    out = np.zeros(x_.size, dtype=np.float32)
    eltwise_lib().mcuf_dequantize_s8_f32(x_.size, _p8(x_), scale, zp, out.ctypes.data_as(_PF))
    return out.reshape(np.shape(x))


def requantize(params: RequantizeParams, x: I8) -> I8:
    x_ = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
    out = np.zeros_like(x_)
    p = params
    eltwise_lib().mcuf_requantize_s8(x_.size, _p8(x_), p.in_zp, p.mult, p.shift, p.out_zp, _p8(out))
    return out.reshape(np.shape(x))
