"""gemmlowp's scalar fixed-point arithmetic on int32 (``fixedpoint/fixedpoint.h``), in Python.

Used at compile time to build the tables of kernels that TFLite Micro computes in fixed point at
run time. Every value is an int32 held in a Python int: additions, subtractions and negations wrap
as the two's complement arithmetic of the C code does in practice, divisions truncate toward zero
as C's, right shifts are arithmetic. A value of format Qm has m integer bits and 31 - m fractional bits.
"""

from __future__ import annotations

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def wrap32(x: int) -> int:
    """x reduced to int32, two's complement."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def add(a: int, b: int) -> int:
    return wrap32(a + b)


def sub(a: int, b: int) -> int:
    return wrap32(a - b)


def _div_trunc(n: int, d: int) -> int:
    """C integer division (rounds toward zero), d > 0."""
    q = abs(n) // d
    return q if n >= 0 else -q


def srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul: round(a * b / 2^31), INT32_MIN * INT32_MIN saturating."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return wrap32(_div_trunc(ab + nudge, 1 << 31))


def rdivpot(x: int, exponent: int) -> int:
    """RoundingDivideByPOT: x / 2^exponent rounded to nearest, halves away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def sat_shl(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0: a saturating left shift."""
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return wrap32(x << exponent)


def rescale(x: int, src_int_bits: int, dst_int_bits: int) -> int:
    """Rescale<dst>(FixedPoint<int32, src>): x * 2^(src - dst), saturating up or rounding down."""
    e = src_int_bits - dst_int_bits
    if e > 0:
        return sat_shl(x, e)
    if e < 0:
        return rdivpot(x, -e)
    return x


def rounding_half_sum(a: int, b: int) -> int:
    """RoundingHalfSum: (a + b) / 2 rounded half away from zero, in int64 then narrowed."""
    s = a + b
    return wrap32(_div_trunc(s + (1 if s >= 0 else -1), 2))


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier on int32, double rounding (the default build)."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return rdivpot(srdhm(wrap32(x * (1 << left)), multiplier), right)


# exp(-2^k) in Q0 for k = -2 .. 4 (gemmlowp's GEMMLOWP_EXP_BARREL_SHIFTER constants)
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    """exp(a) for a in [-1/4, 0), a and result Q0: Taylor expansion around -1/8."""
    constant_term = 1895147668  # exp(-1/8)
    one_third = 715827883
    x = add(a, 1 << 28)  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdivpot(x4, 2)
    poly = rdivpot(add(srdhm(add(x4_over_4, x3), one_third), x2), 1)
    return add(constant_term, srdhm(constant_term, add(x, poly)))


def exp_on_negative_values(a: int, int_bits: int) -> int:
    """exp(a) for a <= 0, a in Q``int_bits``, result in Q0."""
    frac_bits = 31 - int_bits
    one_quarter = 1 << (frac_bits - 2)
    a_mod_quarter_minus_one_quarter = sub(a & (one_quarter - 1), one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, int_bits, 0))
    remainder = sub(a_mod_quarter_minus_one_quarter, a)
    for exponent, multiplier in _EXP_BARREL:
        if int_bits > exponent and remainder & (1 << (frac_bits + exponent)):
            result = srdhm(result, multiplier)
    if int_bits > 5 and a < -(1 << (36 - int_bits)):  # below -32: exp rounds to 0
        result = 0
    return INT32_MAX if a == 0 else result


def _reciprocal_q2(a: int) -> int:
    """2 / (1 + a) for a in [0, 1) in Q2 (gemmlowp's Newton-Raphson division, three steps)."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    one_q2 = 1 << 29
    x = add(1515870810, srdhm(half_denominator, -1010580540))  # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus_dx = sub(one_q2, srdhm(half_denominator, x))
        x = add(x, rescale(srdhm(x, one_minus_dx), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """1 / (1 + a) for a in [0, 1), a and result Q0: Newton-Raphson division in Q2."""
    return rescale(_reciprocal_q2(a), 1, 0)  # x / 2, seen as Q1, to Q0


def logistic(a: int, int_bits: int) -> int:
    """gemmlowp logistic(a) = 1 / (1 + exp(-a)), a in Q``int_bits``, result in Q0."""
    if a == 0:
        return 1 << 30
    abs_a = a if a > 0 else wrap32(-a)
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-abs_a), int_bits))
    return positive if a > 0 else sub(INT32_MAX, positive)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """(1 - a) / (1 + a) for a in [0, 1), a and result Q0: Newton-Raphson division in Q2."""
    return rescale(sub(_reciprocal_q2(a), 1 << 29), 2, 0)


def tanh(a: int, int_bits: int) -> int:
    """gemmlowp tanh(a), a in Q``int_bits``, result in Q0: -tanh(-|a|) = (1 - e) / (1 + e) with
    e = exp(-2|a|), the doubling read as one more integer bit of the same raw value."""
    if a == 0:
        return 0
    n = a if a < 0 else wrap32(-a)
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, int_bits + 1))
    return wrap32(-t) if a < 0 else t


def _clz32(x: int) -> int:
    """CountLeadingZeros of a uint32 (32 for 0)."""
    return 32 - x.bit_length()


def inv_sqrt_quantized_multiplier(x: int) -> tuple[int, int]:
    """TFLite GetInvSqrtQuantizedMultiplierExp(x, kReverseShift = -1): 1 / sqrt(x) for x >= 0 as a
    multiplier and a (left) shift, by five Newton-Raphson steps in Q3; 0 and 1 give INT32_MAX."""
    if x <= 1:
        return INT32_MAX, 0
    shift = 11
    while x >= 1 << 29:
        x //= 4
        shift += 1
    pairs = (_clz32(x) - 1) // 2 - 1
    shift -= pairs
    x <<= 2 * pairs
    half_input = rdivpot(x >> 1, 1)  # SaturatingRoundingMultiplyByPOT<-1> of the Q3 input
    half_three = (1 << 28) + (1 << 27)  # 1.5 in Q3
    r = 1 << 28  # 1 in Q3
    for _ in range(5):
        r3 = rescale(srdhm(srdhm(r, r), r), 9, 3)
        r = rescale(sub(srdhm(half_three, r), srdhm(half_input, r3)), 6, 3)
    r = srdhm(r, 1518500250)  # times sqrt(2) / 2 (Q0): stays Q3
    if shift < 0:
        r = wrap32(r << -shift)
        shift = 0
    return r, -shift
