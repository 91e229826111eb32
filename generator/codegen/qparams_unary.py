"""256-entry int8 tables of the one-input activations (elementwise and reductions family).

Each table is TFLite Micro's integer kernel evaluated, at compile time, on every int8 input; the C
side is one lookup (``mcuf_logistic_s8``, a plain table lookup whatever the table holds).
"""

from __future__ import annotations

import numpy as np

from generator.codegen import fixedpoint as fp
from generator.codegen.qparams import _round_half_away
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
    """TFLite Micro's int8 RELU6: the input clamped to [zero, six] of its own quantisation, no
    rescale (the interpreter rescales to the output; exactness checks input and output agree)."""
    six = _clamp8(_round_half_away(float(np.float32(6.0) / np.float32(in_scale))) + in_zp)
    table = [0] * 256
    for v in range(-128, 128):
        table[v & 0xFF] = min(max(v, in_zp), six)
    return tuple(table)
