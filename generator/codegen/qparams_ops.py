"""Compile-time constants of the binary and reduction operators of the elementwise and reductions
family (PRELU, ...), computed from the tensors' float32 scales as TFLite Micro's ``Prepare`` does.
Each returns a frozen dataclass whose fields are those of the kernel's C parameter struct
(``mcuf_kernels.h``); the shape fields are the code generator's."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from generator.codegen import fixedpoint as fp
from generator.codegen.qparams import quantize_multiplier
from generator.errors import InputError


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


# ---- reductions ----------------------------------------------------------------------------------

REDUCE_DIMS = 4
"""Kept and reduced dimension groups the C kernel addresses (MCUF_REDUCE_DIMS)."""


@dataclass(frozen=True)
class ReduceGeometry:
    """An input seen as kept dimensions (sizes, input strides; in the output's order) and reduced
    dimensions, adjacent dimensions of one kind merged and dimensions of size 1 dropped."""

    kd: tuple[int, ...]
    ks: tuple[int, ...]
    rd: tuple[int, ...]
    rs: tuple[int, ...]

    @property
    def count(self) -> int:
        return int(np.prod(self.rd, dtype=np.int64))


def reduce_geometry(shape: tuple[int, ...], axes: tuple[int, ...]) -> ReduceGeometry | None:
    """The kernel's view of reducing ``shape`` over ``axes``; None if it needs more than
    :data:`REDUCE_DIMS` groups of either kind."""
    strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
    groups: list[list[int]] = []  # [reduced?, size, stride]
    for i, d in enumerate(shape):
        if d == 1:
            continue
        reduced = int(i in axes)
        if groups and groups[-1][0] == reduced:
            groups[-1][1] *= d
            groups[-1][2] = strides[i]
        else:
            groups.append([reduced, d, strides[i]])
    kept = [(d, s) for r, d, s in groups if not r]
    red = [(d, s) for r, d, s in groups if r]
    if len(kept) > REDUCE_DIMS or len(red) > REDUCE_DIMS:
        return None
    pad = [(1, 0)] * REDUCE_DIMS
    # the last group varies fastest: unused groups go first
    kept = pad[len(kept):] + kept
    red = pad[len(red):] + red
    return ReduceGeometry(tuple(d for d, _ in kept), tuple(s for _, s in kept),
                          tuple(d for d, _ in red), tuple(s for _, s in red))


@dataclass(frozen=True)
class SumParams:
    in_zp: int
    out_zp: int
    mult: int
    shift: int


def sum_params(in_scale: float, in_zp: int, out_scale: float, out_zp: int, count: int,
               mean: bool) -> SumParams:
    """MEAN and SUM of int8 (PrepareMeanOrSumHelper, QuantizedMeanOrSum): in / out quantised in
    double; for MEAN, 1 / count folded in as TFLite does at run time:
    ``mult' = (mult << s) // count``, ``shift' = shift - s``, ``s = floor(log2(count))`` limited to
    32 and to 31 + shift."""
    mult, shift = quantize_multiplier(_f64(in_scale) / _f64(out_scale))
    if mean:
        s = min(count.bit_length() - 1, 32, 31 + shift)
        mult, shift = (mult << s) // count, shift - s
    return SumParams(in_zp, out_zp, mult, shift)


# ---- SQUARED_DIFFERENCE --------------------------------------------------------------------------

SQDIFF_LEFT_SHIFT = 7
"""TFLite Micro lifts int8 SQUARED_DIFFERENCE operands by 2^7 (255^2 * 2^14 stays in int32)."""


@dataclass(frozen=True)
class SqDiffParams:
    out_mult: int
    out_shift: int
    out_offset: int


@dataclass(frozen=True)
class SqDiffConstants:
    params: SqDiffParams
    table1: tuple[int, ...]
    """Input 1's rescaled term for every int8 value, at index value + 128."""
    table2: tuple[int, ...]


def sqdiff_constants(s1: float, z1: int, s2: float, z2: int, so: float,
                     zo: int) -> SqDiffConstants:
    """SQUARED_DIFFERENCE int8 (squared_difference.cc PrepareQuantized, in double): the inputs
    rescaled by s / (2 max(s1, s2)) below one, the squared difference by (2 max)^2 / (2^14 so)."""
    twice_max = 2.0 * max(_f64(s1), _f64(s2))
    terms = []
    for s, z in ((s1, z1), (s2, z2)):
        real = _f64(s) / twice_max
        if not 0.0 < real < 1.0:
            raise InputError(f"SQUARED_DIFFERENCE: input rescale {real!r} is outside (0, 1)",
                             "quantize the model with TFLiteConverter")
        m, sh = quantize_multiplier(real)
        terms.append(tuple(fp.multiply_by_quantized_multiplier((v - z) * (1 << SQDIFF_LEFT_SHIFT),
                                                               m, sh) for v in range(-128, 128)))
    om, osh = quantize_multiplier(twice_max * twice_max /
                                  float((1 << (2 * SQDIFF_LEFT_SHIFT)) * np.float32(so)))
    return SqDiffConstants(SqDiffParams(om, osh, zo), terms[0], terms[1])


# ---- LOG_SOFTMAX ---------------------------------------------------------------------------------

LOG_SOFTMAX_SCALE = 16.0 / 256.0
LOG_SOFTMAX_ZERO_POINT = 127
"""The output quantisation TFLite Micro requires of an int8 LOG_SOFTMAX."""
LOG_SOFTMAX_DIFF_INT_BITS = 5


@dataclass(frozen=True)
class LogSoftmaxParams:
    input_multiplier: int
    input_left_shift: int
    reverse_scaling_divisor: int
    reverse_scaling_right_shift: int
    diff_min: int


def log_softmax_params(in_scale: float) -> LogSoftmaxParams:
    """log_softmax.cc CalculateOpData: PreprocessLogSoftmaxScalingExp with beta 1 and Q5 input
    differences, the radius by CalculateInputRadius (all in double)."""
    bits = LOG_SOFTMAX_DIFF_INT_BITS
    real = min(1.0 * _f64(in_scale) * float(1 << (31 - bits)), float((1 << 31) - 1))
    if not real > 1.0:
        raise InputError(f"LOG_SOFTMAX: input scale {in_scale!r} is too small (TFLite Micro's "
                         "QuantizeMultiplierGreaterThanOne refuses it)",
                         "quantize the model with TFLiteConverter")
    mult, left = quantize_multiplier(real)
    reverse = float(1 << (31 - left)) / float(mult)
    rmult, rshift = quantize_multiplier(reverse)
    if not (0.0 < reverse < 1.0 and rshift <= 0):
        raise InputError(f"LOG_SOFTMAX: input scale {in_scale!r} gives a reverse scaling factor "
                         f"{reverse!r} outside (0, 1)", "quantize the model with TFLiteConverter")
    radius = math.floor(((1 << bits) - 1) * float(1 << (31 - bits)) / float(1 << left))
    return LogSoftmaxParams(mult, left, rmult, -rshift, -radius)
