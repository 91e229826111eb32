"""256-entry int8 tables of the one-input activations (elementwise and reductions family).

Each table is TFLite Micro's integer kernel evaluated, at compile time, on every int8 input; the C
side is one lookup (``mcuf_logistic_s8``, a plain table lookup whatever the table holds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from generator.codegen import fixedpoint as fp
from generator.codegen.qparams import _round_half_away, quantize_multiplier
from generator.codegen.qparams_eltwise import requantize_params
from generator.errors import InputError
from generator.numerics import DEFAULT, Numerics

TANH_INPUT_INT_BITS = 4
"""TFLite Micro's int8 TANH rescales its input to Q4 (kInputIntegerBits) for gemmlowp's tanh."""
TANH_OUTPUT_FRAC_BITS = 7
"""... and writes its Q0 result in steps of 1/128 (kOutputScale)."""


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
    # a negative alpha: TFLite Micro multiplies by |multiplier| and negates the product (its
    # MultiplyByQuantizedMultiplier takes non-negative multipliers), which rounds ties the other way
    negative = alpha_m < 0
    safe_alpha_m = fp.wrap32(-alpha_m) if negative else alpha_m
    table = [0] * 256
    for v in range(-128, 128):
        x = v - in_zp
        if x >= 0:
            y = fp.multiply_by_quantized_multiplier(x, ident_m, ident_s)
        else:
            y = fp.multiply_by_quantized_multiplier(x, safe_alpha_m, alpha_s)
            y = fp.wrap32(-y) if negative else y
        table[v & 0xFF] = _clamp8(out_zp + y)
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


def _f32(x: float) -> np.float32:
    return np.float32(x)


def _round_f32(x: np.float32) -> int:
    """TfLiteRound (std::round) of a float32."""
    r = math.floor(abs(float(x)) + 0.5)
    return -r if x < 0 else r


def _tanh_table_tflm(in_scale: float, in_zp: int) -> tuple[int, ...]:
    """TFLite Micro's int8 TANH (tanh.cc CalculateArithmeticOpData, reference_integer_ops::Tanh)
    on every input: the input minus its zero point, saturated outside the input radius, rescaled
    to Q4 by a fixed-point multiplier, gemmlowp's tanh, its Q0 result in steps of 1/128. The
    output's own quantisation is not read (exactness requires it to be 1/128, 0)."""
    int_bits = TANH_INPUT_INT_BITS
    # scale * 2^27 is exact in double: the frexp mantissa times 2^31 needs no rounding
    q, left_shift = math.frexp(float(_f32(in_scale)) * float(1 << (31 - int_bits)))
    multiplier = math.floor(q * (1 << 31) + 0.5)
    # CalculateInputRadius in double; a negative shift count (scales below 2^-28) is taken
    # modulo 64 on x86, as for LOGISTIC
    radius = math.floor(
        ((1 << int_bits) - 1) * float(1 << (31 - int_bits)) / float(1 << (left_shift & 63)))
    table = [0] * 256
    for v in range(-128, 128):
        x = v - in_zp
        if x <= -radius:
            out = -128
        elif x >= radius:
            out = 127
        else:
            y = fp.tanh(fp.multiply_by_quantized_multiplier(x, multiplier, left_shift), int_bits)
            out = _clamp8(fp.rdivpot(y, 31 - TANH_OUTPUT_FRAC_BITS))
        table[v & 0xFF] = out
    return tuple(table)


def _tanh_table_tflite_ref(in_scale: float, in_zp: int, out_scale: float,
                           out_zp: int) -> tuple[int, ...]:
    """The table TFLite's reference TANH builds (LUTPopulate with tanhf, in float32)."""
    inverse = np.float32(1.0) / _f32(out_scale)
    table = [0] * 256
    for v in range(-128, 128):
        x = np.float32(_f32(in_scale) * np.float32(v - in_zp))
        y = np.float32(math.tanh(float(x)))
        table[v & 0xFF] = _clamp8(_round_f32(np.float32(y * inverse)) + out_zp)
    return tuple(table)


def tanh_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int,
               numerics: Numerics = DEFAULT) -> tuple[int, ...]:
    """int8 TANH as a 256-entry table: TFLite Micro's fixed-point kernel (``Numerics.TFLM``) or the
    interpreter's float table (``TFLITE_REF``)."""
    if numerics is Numerics.TFLM:
        return _tanh_table_tflm(in_scale, in_zp)
    return _tanh_table_tflite_ref(in_scale, in_zp, out_scale, out_zp)


# ---- HARD_SWISH: TFLite's int16 fixed-point arithmetic ------------------------------------------

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def _wrap16(x: int) -> int:
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def _srdhm16(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    if a == b == INT16_MIN:
        return INT16_MAX
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    return _wrap16(fp._div_trunc(ab + nudge, 1 << 15))


def _sdhm16(a: int, b: int) -> int:
    """SaturatingDoublingHighMul on int16 (hard_swish.h): the doubled high half, truncated."""
    if a == b == INT16_MIN:
        return INT16_MAX
    return _wrap16(fp._div_trunc(a * b, 1 << 15))


def _rdivpot16(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT on int16: its mask is (2^exponent - 1) narrowed to int16, which
    for exponents of 16 and more is -1 (kept: it is what the C computes)."""
    mask = _wrap16((1 << exponent) - 1)
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return _wrap16((x >> exponent) + (1 if (x & mask) > threshold else 0))


def _sat_shl16(x: int, amount: int) -> int:
    return max(INT16_MIN, min(INT16_MAX, x * (1 << amount)))


def _downscale16(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier."""
    if m >= (1 << 31) - 1 - (1 << 15):
        return INT16_MAX
    return (m + (1 << 15)) >> 16


@dataclass(frozen=True)
class HardSwishParams:
    output_multiplier: int
    output_exponent: int
    reluish_multiplier: int
    reluish_exponent: int


def hard_swish_params(in_scale: float, out_scale: float) -> HardSwishParams:
    """HardSwishPrepare (hard_swish_common.cc): the ratios in float32, their int16 multipliers.
    TFLite Micro refuses an output multiplier that would shift left; so does this."""
    hires = np.float32(np.float32(1.0 / 128.0) * _f32(in_scale))
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    om, oe = quantize_multiplier(float(np.float32(hires / _f32(out_scale))))
    if oe > 0:
        raise InputError(
            f"HARD_SWISH: input scale {in_scale!r} over output scale {out_scale!r} is 128 or more "
            "(the output multiplier would shift left), which TFLite Micro's Prepare refuses",
            "quantize HARD_SWISH as TFLiteConverter does")
    rm, re = quantize_multiplier(float(np.float32(hires / reluish_scale)))
    return HardSwishParams(_downscale16(om), oe, _downscale16(rm), re)


def hard_swish_table(in_scale: float, in_zp: int, out_scale: float,
                     out_zp: int) -> tuple[int, ...]:
    """TFLite's int8 HARD_SWISH (reference_ops::HardSwish, TFLite Micro and the interpreter alike)
    on every input, in its int16 fixed point."""
    p = hard_swish_params(in_scale, out_scale)
    table = [0] * 256
    for v in range(-128, 128):
        hires = _wrap16((v - in_zp) * (1 << 7))
        preshift = _srdhm16(hires, p.output_multiplier)
        r = hires
        if p.reluish_exponent > 0:
            r = _sat_shl16(r, p.reluish_exponent - 1)
        r = _srdhm16(r, p.reluish_multiplier)
        if p.reluish_exponent > 0:
            r = _sat_shl16(r, 1)
        if p.reluish_exponent < 0:
            r = _rdivpot16(r, -p.reluish_exponent)
        r = (r + (1 << 15)) >> 1
        out = _rdivpot16(_sdhm16(r, preshift), -p.output_exponent)
        table[v & 0xFF] = _clamp8(_wrap16(out + out_zp))
    return tuple(table)


def rsqrt_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> tuple[int, ...]:
    """TFLite Micro's int8 RSQRT (elementwise.cc RsqrtEvalQuantized) on every input: the inverse
    square root of x - zero point as a fixed-point multiplier (GetInvSqrtQuantizedMultiplierExp),
    applied to 1 with 20 extra bits, then 1 / (sqrt(input scale) * output scale) in double. At the
    zero point, the output's maximum. Below it both runtimes stop with an error ("Rsqrt is only
    defined for positive values"); the table holds the output's maximum there too."""
    shift20 = 20
    real = 1.0 / float(np.float32(np.sqrt(_f32(in_scale)) * _f32(out_scale)))
    mult, shift = quantize_multiplier(real)
    table = [0] * 256
    for v in range(-128, 128):
        x = v - in_zp
        if x <= 0:
            table[v & 0xFF] = 127
            continue
        im, ish = fp.inv_sqrt_quantized_multiplier(x)
        data = fp.multiply_by_quantized_multiplier(1, im, ish + shift20)
        out = fp.multiply_by_quantized_multiplier(data, mult, shift - shift20) + out_zp
        table[v & 0xFF] = _clamp8(out)
    return tuple(table)
