"""256-entry int8 tables of the one-input activations (elementwise and reductions family).

Each table is TFLite Micro's integer kernel evaluated, at compile time, on every int8 input; the C
side is one lookup (``mcuf_logistic_s8``, a plain table lookup whatever the table holds).
"""

from __future__ import annotations

import numpy as np

from generator.codegen import fixedpoint as fp
from generator.codegen.qparams import _round_half_away, quantize_multiplier
from generator.codegen.qparams_eltwise import requantize_params


def _clamp8(v: int) -> int:
    return max(-128, min(127, v))


def relu_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> tuple[int, ...]:
    """TFLite Micro's int8 RELU (activations_common.cc): the input rescaled by the float32 ratio of
    the scales, offset by the output zero point, clamped below at the output's real zero."""
    rp = requantize_params(in_scale, in_zp, out_scale, out_zp)
    low = max(-128, out_zp)
    table = [0] * 256
    for v in range(-128, 128):
        q = out_zp + fp.multiply_by_quantized_multiplier(v - in_zp, rp.mult, rp.shift)
        table[v & 0xFF] = max(low, min(127, q))
    return tuple(table)


def relu6_table(in_scale: float, in_zp: int) -> tuple[int, ...]:
    """TFLite Micro's int8 RELU6 with equal input and output quantisation: the input clamped to
    [zero, six] of that quantisation (exactness refuses differing quantisations)."""
    six = _clamp8(_round_half_away(float(np.float32(6.0) / np.float32(in_scale))) + in_zp)
    table = [0] * 256
    for v in range(-128, 128):
        table[v & 0xFF] = min(max(v, in_zp), six)
    return tuple(table)


def leaky_relu_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                     alpha: float) -> tuple[int, ...]:
    """TFLite Micro's int8 LEAKY_RELU (leaky_relu_common.cc): inputs at or above the zero point
    rescaled by in/out, those below by alpha * in/out (products and quotients in float32)."""
    s_in, s_out = np.float32(in_scale), np.float32(out_scale)
    ident_m, ident_s = quantize_multiplier(float(s_in / s_out))
    alpha_m, alpha_s = quantize_multiplier(float(s_in * np.float32(alpha) / s_out))
    table = [0] * 256
    for v in range(-128, 128):
        x = v - in_zp
        m, s = (ident_m, ident_s) if x >= 0 else (alpha_m, alpha_s)
        table[v & 0xFF] = _clamp8(out_zp + fp.multiply_by_quantized_multiplier(x, m, s))
    return tuple(table)


def abs_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> tuple[int, ...]:
    """TFLite Micro's int8 ABS (elementwise.cc): |x - input zero point|, rescaled by in/out only
    when the scales differ, plus the output zero point."""
    rescale = np.float32(in_scale) != np.float32(out_scale)
    m, s = quantize_multiplier(float(np.float32(in_scale) / np.float32(out_scale)))
    table = [0] * 256
    for v in range(-128, 128):
        a = abs(v - in_zp)
        q = fp.multiply_by_quantized_multiplier(a, m, s) if rescale else a
        table[v & 0xFF] = _clamp8(q + out_zp)
    return tuple(table)
