"""SVDF's fixed-point parameters as TFLite Micro's PrepareSvdf computes them, and a Python twin of
its integer kernel for one inference from a fresh state (the tests' oracle of the C kernel)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.codegen import fixedpoint as fp
from generator.codegen.qparams import quantize_multiplier

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
BIAS_SCALE_TOLERANCE = 1e-5
"""TFLite Micro's bound on |bias scale - state scale * time weights scale| (PrepareSvdf)."""


@dataclass(frozen=True)
class SvdfParams:
    mult1: int
    shift1: int
    """input scale * feature weights scale / state scale: the feature products into the int16 state."""
    mult2: int
    shift2: int
    """state scale * time weights scale / output scale: the filters' sums into the int8 output."""


def _f32(v: float | np.floating[Any]) -> np.float32:
    return np.float32(v)


def real_scales(x_scale: float, wf_scale: float, state_scale: float, wt_scale: float,
                y_scale: float) -> tuple[float, float]:
    """The two real rescales, each a float32 product and quotient (TFLite Micro multiplies the
    tensors' float scales before widening to double); inf where float32 overflows."""
    with np.errstate(over="ignore", under="ignore"):
        s1 = float(_f32(_f32(x_scale) * _f32(wf_scale)) / _f32(state_scale))
        s2 = float(_f32(_f32(state_scale) * _f32(wt_scale)) / _f32(y_scale))
    return s1, s2


def svdf_params(x_scale: float, wf_scale: float, state_scale: float, wt_scale: float,
                y_scale: float) -> SvdfParams:
    """The two multipliers (the real scales finite: the import checks refuse others)."""
    s1, s2 = real_scales(x_scale, wf_scale, state_scale, wt_scale, y_scale)
    m1, sh1 = quantize_multiplier(s1)
    m2, sh2 = quantize_multiplier(s2)
    return SvdfParams(m1, sh1, m2, sh2)


def bias_scale_ok(bias_scale: float, state_scale: float, wt_scale: float) -> bool:
    """TFLite Micro's Prepare check, in its float then double arithmetic."""
    product = float(_f32(_f32(state_scale) * _f32(wt_scale)))
    return abs(float(_f32(bias_scale)) - product) < BIAS_SCALE_TOLERANCE


def state_term(v: int, bits: int, zp: int) -> int:
    """What the newest state column contributes for a rescaled feature product ``v``: TFLite
    Micro clamps it to the state's type, adds the zero point, stores it in that type (an int8
    store wraps) and subtracts the zero point again when it reads it."""
    lo, hi = (INT16_MIN, INT16_MAX) if bits == 16 else (-128, 127)
    v = min(max(v, lo), hi)
    if bits == 16:
        return v  # zero point 0
    return (((v + zp + 128) & 0xFF) - 128) - zp


def svdf_fresh(p: SvdfParams, x: npt.NDArray[np.int8], x_zp: int, wf: npt.NDArray[np.int8],
               wt: npt.NDArray[np.integer[Any]], bias: npt.NDArray[np.int32], rank: int,
               y_zp: int, state_bits: int = 16, state_zp: int = 0) -> npt.NDArray[np.int8]:
    """One invoke of a fresh interpreter: every state column is the state's zero point but the
    newest, which holds each filter's rescaled feature product; the time weights' dot
    product over the memory then reads that column alone. A unit's sum wraps in int32, as
    TFLite Micro's does."""
    batches, filters = x.shape[0], wf.shape[0]
    units = filters // rank
    out = np.zeros((batches, units), np.int8)
    for b in range(batches):
        acc = [int(v) for v in bias]
        for f in range(filters):
            dot = int(np.dot(wf[f].astype(np.int64), x[b].astype(np.int64) - x_zp))
            s = state_term(fp.multiply_by_quantized_multiplier(dot, p.mult1, p.shift1),
                           state_bits, state_zp)
            acc[f // rank] = fp.wrap32(acc[f // rank] + int(wt[f, -1]) * s)
        for u in range(units):
            v = fp.multiply_by_quantized_multiplier(acc[u], p.mult2, p.shift2) + y_zp
            out[b, u] = min(max(v, -128), 127)
    return out
