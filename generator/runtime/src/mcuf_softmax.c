/* SOFTMAX, int8 -> int8: TFLite reference_ops::Softmax (the fixed-point path the reference kernel
 * takes), with gemmlowp's fixed-point exp(x) for x <= 0 and 1 / (1 + x) for x in [0, 1).
 *
 * Fixed-point formats are written Qm: m integer bits, 31 - m fractional bits, in an int32. */
#include "mcuf_internal.h"
#include "mcuf_kernels.h"

#define SCALED_DIFF_INT_BITS 5 /* exp() input: Q5 */
#define ACCUM_INT_BITS 12      /* sum of exps: Q12 */

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for e > 0: a saturating left shift. */
static int32_t sat_shl(int32_t x, int32_t e)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - e)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << e);
}

/* exp(a) for a in [-1/4, 0), a and result Q0: Taylor expansion around -1/8. */
static int32_t exp_quarter(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668;
    const int32_t one_third = 715827883;
    const int32_t x = a + ((int32_t)1 << 28);
    const int32_t x2 = mcuf_srdhm(x, x);
    const int32_t x3 = mcuf_srdhm(x2, x);
    const int32_t x4 = mcuf_srdhm(x2, x2);
    const int32_t x4_over_4 = mcuf_rdivpot(x4, 2);
    const int32_t poly = mcuf_rdivpot(mcuf_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return exp_minus_one_eighth + mcuf_srdhm(exp_minus_one_eighth, x + poly);
}

/* exp(a) for a <= 0, a in Q5, result in Q0. */
static int32_t exp_neg_q5(int32_t a)
{
    /* exp(-2^k) in Q0 for k = -2 .. 4 */
    static const int32_t factors[7] = {1672461947, 1302514674, 790015084, 290630308,
                                       39332535,   720401,     242};
    const int32_t frac_bits = 31 - SCALED_DIFF_INT_BITS;
    const int32_t quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    int32_t result = exp_quarter(sat_shl(a_mod_quarter_minus_quarter, SCALED_DIFF_INT_BITS));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    for (int32_t k = 0; k < 7; k++) {
        if (remainder & ((int32_t)1 << (frac_bits - 2 + k))) {
            result = mcuf_srdhm(result, factors[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), a and result in Q0: Newton-Raphson division. */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int32_t c48_17 = 1515870810;      /* 48/17 in Q2 */
    const int32_t c_neg32_17 = -1010580540; /* -32/17 in Q2 */
    const int32_t one_q2 = (int32_t)1 << 29;
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = c48_17 + mcuf_srdhm(half_denominator, c_neg32_17);
    for (int32_t i = 0; i < 3; i++) {
        const int32_t one_minus_dx = one_q2 - mcuf_srdhm(half_denominator, x);
        x = x + sat_shl(mcuf_srdhm(x, one_minus_dx), 2);
    }
    return sat_shl(x, 1);
}

static int32_t count_leading_zeros(uint32_t x)
{
    int32_t n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

/* The exp() argument of one input difference (<= 0), in Q5. */
static int32_t scaled_diff(const mcuf_softmax_params *p, int32_t diff)
{
    return mcuf_srdhm((int32_t)((uint32_t)diff << p->input_beta_left_shift),
                      p->input_beta_multiplier);
}

static void softmax_row(const mcuf_softmax_params *p, const int8_t *in, int8_t *out)
{
    int32_t max_in = -128;
    for (int32_t c = 0; c < p->depth; c++) {
        max_in = in[c] > max_in ? in[c] : max_in;
    }
    int32_t sum_of_exps = 0; /* Q12 */
    for (int32_t c = 0; c < p->depth; c++) {
        const int32_t diff = in[c] - max_in;
        if (diff >= p->diff_min) {
            sum_of_exps += mcuf_rdivpot(exp_neg_q5(scaled_diff(p, diff)), ACCUM_INT_BITS);
        }
    }
    /* 1 / sum as a Q0 value times 2^num_bits_over_unit (gemmlowp / TFLite GetReciprocal). */
    const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
    const int32_t num_bits_over_unit = ACCUM_INT_BITS - headroom_plus_one;
    const int32_t shifted_sum_minus_one =
        (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
    const int32_t shifted_scale = one_over_one_plus_x(shifted_sum_minus_one);
    /* TFLite CHECK-fails (aborts) when this exceeds 31, i.e. when the sum of exps reaches 512
     * (say 512 entries equal to the row maximum); limiting it keeps the kernel defined. */
    const int32_t exponent = num_bits_over_unit + 23 > 31 ? 31 : num_bits_over_unit + 23;
    for (int32_t c = 0; c < p->depth; c++) {
        const int32_t diff = in[c] - max_in;
        int32_t v = -128;
        if (diff >= p->diff_min) {
            const int32_t e = exp_neg_q5(scaled_diff(p, diff));
            v = mcuf_rdivpot(mcuf_srdhm(shifted_scale, e), exponent) - 128;
            v = v < -128 ? -128 : v;
            v = v > 127 ? 127 : v;
        }
        out[c] = (int8_t)v;
    }
}

void mcuf_softmax_s8(const mcuf_softmax_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t r = 0; r < p->rows; r++) {
        softmax_row(p, in + (ptrdiff_t)r * p->depth, out + (ptrdiff_t)r * p->depth);
    }
}

/* The fixed-point helpers LOG_SOFTMAX shares (mcuf_internal.h). */
int32_t mcuf_exp_on_negative_q5(int32_t a)
{
    return exp_neg_q5(a);
}

int32_t mcuf_one_over_one_plus_x(int32_t a)
{
    return one_over_one_plus_x(a);
}
