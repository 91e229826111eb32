"""Compile-time quantisation constants, computed exactly as TFLite computes them.

TFLite derives fixed-point multipliers in double precision from the float32 scales stored in the
flatbuffer; doing the same in NumPy float64 gives the identical integers, which is what makes the
generated C bit-exact with the interpreter.
"""

from __future__ import annotations

import math

import numpy as np

from generator.ir import Activation

INT8_MIN = -128
INT8_MAX = 127


def _round_half_away(x: float) -> int:
    """std::round: halves go away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: ``real ~= multiplier * 2**(shift - 31)``, multiplier in [2**30, 2**31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    # No cap at +30: that belongs to TFLite's single-rounding builds; the interpreter rounds twice.
    return q_fixed, shift


def conv_multipliers(
    input_scale: float, filter_scales: tuple[float, ...], output_scale: float
) -> tuple[list[int], list[int]]:
    """Per-channel (or per-tensor) output multipliers of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED."""
    mults: list[int] = []
    shifts: list[int] = []
    for fs in filter_scales:
        real = float(input_scale) * float(fs) / float(output_scale)
        m, s = quantize_multiplier(real)
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def activation_range(act: Activation, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized for int8 outputs (the division is in float32)."""

    def q(v: float) -> int:
        return zero_point + _round_half_away(float(np.float32(v) / np.float32(scale)))

    lo, hi = INT8_MIN, INT8_MAX
    if act is Activation.RELU:
        lo = max(lo, q(0.0))
    elif act is Activation.RELU6:
        lo, hi = max(lo, q(0.0)), min(hi, q(6.0))
    elif act is Activation.RELU_N1_TO_1:
        lo, hi = max(lo, q(-1.0)), min(hi, q(1.0))
    return lo, hi


def same_padding(in_size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite SAME padding: (output size, padding before)."""
    out = (in_size + stride - 1) // stride
    eff_k = (k - 1) * dilation + 1
    total = max((out - 1) * stride + eff_k - in_size, 0)
    return out, total // 2


def valid_out(in_size: int, k: int, stride: int, dilation: int) -> int:
    eff_k = (k - 1) * dilation + 1
    return (in_size - eff_k + stride) // stride
