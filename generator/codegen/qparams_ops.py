"""Compile-time constants of the binary and reduction operators of the elementwise and reductions
family (PRELU, ...), computed from the tensors' float32 scales as TFLite Micro's ``Prepare`` does.
Each returns a frozen dataclass whose fields are those of the kernel's C parameter struct
(``mcuf_kernels.h``); the shape fields are the code generator's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.codegen.qparams import quantize_multiplier


def _f64(x: float) -> float:
    """A float32 scale widened to double, as TFLite reads ``params.scale``."""
    return float(np.float32(x))


@dataclass(frozen=True)
class PreluParams:
    in_offset: int
    alpha_offset: int
    out_offset: int
    mult1: int
    shift1: int
    mult2: int
    shift2: int


def prelu_params(in_scale: float, in_zp: int, alpha_scale: float, alpha_zp: int,
                 out_scale: float, out_zp: int) -> PreluParams:
    """CalculatePreluParams (prelu_common.cc): in / out and in * alpha / out, in double."""
    m1, s1 = quantize_multiplier(_f64(in_scale) / _f64(out_scale))
    m2, s2 = quantize_multiplier(_f64(in_scale) * _f64(alpha_scale) / _f64(out_scale))
    return PreluParams(-in_zp, -alpha_zp, out_zp, m1, s1, m2, s2)
