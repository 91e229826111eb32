"""Compile-time constants of the elementwise, reduction and activation kernels.

Each function repeats, from the tensors' float32 scales and zero points, the arithmetic TFLite's
``Prepare`` does for its *reference* kernels (``OpResolverType.BUILTIN_REF``), with the same mix of
float32 and float64 steps, so the generated C is bit-exact with the interpreter. Each returns a
frozen dataclass whose field names are those of the matching C parameter struct in
``mcuf_kernels.h``; the shape fields of those structs (n, c, strides, ...) are the code generator's.

LOGISTIC alone depends on the numerics mode (:mod:`generator.numerics`): TFLite Micro computes it in
fixed point (gemmlowp, emulated in :mod:`generator.codegen.fixedpoint`), the interpreter from a float
table; the two differ on a few inputs. The other kernels here agree between the two runtimes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from generator.codegen import fixedpoint as fp
from generator.codegen.qparams import activation_range, quantize_multiplier
from generator.errors import InputError
from generator.ir import Activation
from generator.numerics import DEFAULT, Numerics

# TFLite's quantised ADD lifts both operands by 2**20 before rescaling them (8-bit path).
ADD_LEFT_SHIFT = 20
# SOFTMAX: exp() input is Q5.26 (kScaledDiffIntegerBits).
SOFTMAX_SCALED_DIFF_INT_BITS = 5
# LOGISTIC on TFLite Micro: the input is rescaled to Q4 (kInputIntegerBits) for gemmlowp's logistic.
LOGISTIC_INPUT_INT_BITS = 4
# Output quantisation TFLite fixes for int8 SOFTMAX and LOGISTIC.
PROB_OUTPUT_SCALE = 1.0 / 256.0
PROB_OUTPUT_ZERO_POINT = -128

_HINT = "re-export the model with TFLiteConverter; this quantisation cannot come from it"


@dataclass(frozen=True)
class AddParams:
    in1_offset: int
    in2_offset: int
    left_shift: int
    in1_mult: int
    in1_shift: int
    in2_mult: int
    in2_shift: int
    out_mult: int
    out_shift: int
    out_offset: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MulParams:
    in1_offset: int
    in2_offset: int
    out_mult: int
    out_shift: int
    out_offset: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MeanParams:
    in_zp: int
    out_zp: int
    mult: int
    shift: int


@dataclass(frozen=True)
class SoftmaxParams:
    input_beta_multiplier: int
    input_beta_left_shift: int
    diff_min: int


@dataclass(frozen=True)
class LogisticParams:
    table: tuple[int, ...]
    """256 int8 outputs indexed by the input's bit pattern as uint8 (0..127, then -128..-1)."""


@dataclass(frozen=True)
class RequantizeParams:
    in_zp: int
    mult: int
    shift: int
    out_zp: int


def _f32(x: float) -> float:
    """The value as stored in a float32 (TfLiteQuantizationParams.scale)."""
    return float(np.float32(x))


def _smaller_than_one(real: float, what: str) -> tuple[int, int]:
    """TFLite QuantizeMultiplierSmallerThanOneExp, which CHECK-fails outside (0, 1)."""
    if not 0.0 < real < 1.0:
        raise InputError(f"{what}: rescale factor {real!r} is outside (0, 1)", _HINT)
    return quantize_multiplier(real)


def add_params(
    in1_scale: float,
    in1_zp: int,
    in2_scale: float,
    in2_zp: int,
    out_scale: float,
    out_zp: int,
    activation: Activation = Activation.NONE,
) -> AddParams:
    """ADD (add.cc Prepare, 8-bit general path)."""
    s1, s2, so = _f32(in1_scale), _f32(in2_scale), _f32(out_scale)
    twice_max = _f32(2.0 * max(s1, s2))  # computed in float, then widened
    m1, sh1 = _smaller_than_one(s1 / twice_max, "ADD input 1")
    m2, sh2 = _smaller_than_one(s2 / twice_max, "ADD input 2")
    mo, sho = _smaller_than_one(twice_max / _f32((1 << ADD_LEFT_SHIFT) * so), "ADD output")
    lo, hi = activation_range(activation, so, out_zp)
    return AddParams(-in1_zp, -in2_zp, ADD_LEFT_SHIFT, m1, sh1, m2, sh2, mo, sho, out_zp, lo, hi)


def add_tables(p: AddParams) -> tuple[list[int], list[int]]:
    """Each input's rescaled term of ADD for every int8 value, at index value + 128:
    MultiplyByQuantizedMultiplierSmallerThanOneExp((x + offset) << left_shift, mult, shift), exactly
    what TFLite's int8 Add computes per element before the sum (a function of one int8 value, so
    the table is the kernel's own arithmetic, evaluated at compile time)."""
    def table(offset: int, mult: int, shift: int) -> list[int]:
        return [fp.multiply_by_quantized_multiplier((x + offset) * (1 << p.left_shift), mult, shift)
                for x in range(-128, 128)]

    return (table(p.in1_offset, p.in1_mult, p.in1_shift),
            table(p.in2_offset, p.in2_mult, p.in2_shift))


def mul_params(
    in1_scale: float,
    in1_zp: int,
    in2_scale: float,
    in2_zp: int,
    out_scale: float,
    out_zp: int,
    activation: Activation = Activation.NONE,
) -> MulParams:
    """MUL (mul.cc Prepare): the real multiplier is formed in float32, then quantised."""
    real = np.float32(in1_scale) * np.float32(in2_scale) / np.float32(out_scale)
    mult, shift = quantize_multiplier(float(real))
    lo, hi = activation_range(activation, _f32(out_scale), out_zp)
    return MulParams(-in1_zp, -in2_zp, mult, shift, out_zp, lo, hi)


def mean_params(
    in_scale: float, in_zp: int, out_scale: float, out_zp: int, count: int
) -> MeanParams:
    """MEAN of int8 over ``count`` elements per output (reduce.cc Prepare + QuantizedMeanOrSum).

    TFLite quantises in_scale / out_scale, then at run time folds 1 / count into that multiplier:
    ``mult' = (mult << s) // count``, ``shift' = shift - s`` with ``s = floor(log2(count))`` limited
    to 32 and to 31 + shift. Both steps happen here, so the kernel applies one multiplier.
    """
    if count <= 0:
        raise InputError(f"MEAN over {count} elements", "the reduced axes must not be empty")
    mult, shift = quantize_multiplier(_f32(in_scale) / _f32(out_scale))
    s = min(count.bit_length() - 1, 32, 31 + shift)
    return MeanParams(in_zp, out_zp, (mult << s) // count, shift - s)


def softmax_params(input_scale: float, beta: float = 1.0) -> SoftmaxParams:
    """SOFTMAX int8 -> int8 on the reference kernel (activations.cc SoftmaxPrepare, kReference)."""
    real = _f32(beta) * _f32(input_scale) * float(1 << (31 - SOFTMAX_SCALED_DIFF_INT_BITS))
    real = min(real, float((1 << 31) - 1))
    if not real > 1.0:
        raise InputError(
            f"SOFTMAX: input scale {input_scale!r} times beta {beta!r} is too small "
            "(TFLite rejects it too)",
            _HINT,
        )
    mult, shift = quantize_multiplier(real)
    radius = math.floor(
        ((1 << SOFTMAX_SCALED_DIFF_INT_BITS) - 1)
        * float(1 << (31 - SOFTMAX_SCALED_DIFF_INT_BITS))
        / float(1 << shift)
    )
    return SoftmaxParams(mult, shift, -radius)


def _round_half_away(x: np.float32) -> int:
    """std::round of a float32 (exact: a float32 plus 0.5 is exact in float64 wherever it matters)."""
    r = math.floor(abs(float(x)) + 0.5)
    return -r if x < 0 else r


def _expf(x: np.float32) -> np.float32:
    """expf, correctly rounded (via float64); overflows to inf as expf does."""
    if float(x) > 709.0:
        return np.float32(np.inf)
    with np.errstate(over="ignore"):
        return np.float32(math.exp(float(x)))


def _logistic_table_tflite_ref(input_scale: float, input_zp: int, output_zp: int) -> list[int]:
    """The table TFLite's reference kernel builds (LUTPopulate<int8_t>, in float32)."""
    scale = np.float32(input_scale)
    inv_out = np.float32(1.0) / np.float32(PROB_OUTPUT_SCALE)
    one = np.float32(1.0)
    table = [0] * 256
    for v in range(-128, 128):
        x = np.float32(scale * np.float32(v - input_zp))
        y = np.float32(one / np.float32(one + _expf(np.float32(-x))))
        q = _round_half_away(np.float32(y * inv_out)) + output_zp
        table[v & 0xFF] = max(-128, min(127, q))
    return table


def _logistic_table_tflm(input_scale: float, input_zp: int) -> list[int]:
    """TFLite Micro's int8 LOGISTIC (logistic_common.cc Prepare, reference_integer_ops::Logistic)
    evaluated on every input: the input rescaled to Q4 by a fixed-point multiplier, gemmlowp's
    fixed-point logistic, its Q0 result rounded to 1/256 steps. The output zero point is -128 there
    (Prepare rejects any other)."""
    int_bits = LOGISTIC_INPUT_INT_BITS
    # scale * 2^27 is exact in double (a float32 times a power of two), so is its frexp mantissa
    # times 2^31: TfLiteRound has nothing to round, and the multiplier stays below 2^31
    q, left_shift = math.frexp(_f32(input_scale) * float(1 << (31 - int_bits)))
    multiplier = math.floor(q * (1 << 31) + 0.5)
    # CalculateInputRadius: floor(15 * 2^27 / (1ll << left_shift)), in double. Below a scale of
    # 2^-28 the shift is negative, undefined in C; x86 (where the reference runs) takes the count
    # modulo 64, which leaves a radius of 0: every input saturates, the zero point to -128.
    radius = math.floor(
        ((1 << int_bits) - 1) * float(1 << (31 - int_bits)) / float(1 << (left_shift & 63))
    )
    table = [0] * 256
    for v in range(-128, 128):
        x = v - input_zp
        if x <= -radius:
            out = -128
        elif x >= radius:
            out = 127
        else:
            x_q4 = fp.multiply_by_quantized_multiplier(x, multiplier, left_shift)
            y_q0 = fp.logistic(x_q4, int_bits)
            out = max(-128, min(127, fp.rdivpot(y_q0, 31 - 8) + PROB_OUTPUT_ZERO_POINT))
        table[v & 0xFF] = out
    return table


def logistic_params(
    input_scale: float,
    input_zp: int,
    output_zp: int = PROB_OUTPUT_ZERO_POINT,
    numerics: Numerics = DEFAULT,
) -> LogisticParams:
    """LOGISTIC int8 as a 256-entry table: TFLite Micro's fixed-point kernel evaluated on every
    input (``Numerics.TFLM``), or the float table TFLite's reference kernel builds
    (``TFLITE_REF``)."""
    if numerics is Numerics.TFLM:
        return LogisticParams(tuple(_logistic_table_tflm(input_scale, input_zp)))
    return LogisticParams(tuple(_logistic_table_tflite_ref(input_scale, input_zp, output_zp)))


def requantize_params(
    in_scale: float, in_zp: int, out_scale: float, out_zp: int
) -> RequantizeParams:
    """int8 -> int8 QUANTIZE (quantize.cc Prepare)."""
    mult, shift = quantize_multiplier(_f32(in_scale) / _f32(out_scale))
    return RequantizeParams(in_zp, mult, shift, out_zp)
