/* LOG_SOFTMAX, int8 -> int8 over the last dimension: TFLite's reference_ops::LogSoftmaxQuantized
 * (TFLite Micro's int8 kernel). The sum of exps in Q12, its log by TFLite's
 * log_x_for_x_greater_than_or_equal_to_1 (Q5 result), the output in steps of 16/256 from 127.
 * Fixed-point formats are written Qm: m integer bits, 31 - m fractional bits, in an int32. */
#include "mcuf_internal.h"
#include "mcuf_kernels.h"

static int32_t add32(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static int32_t sub32(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

static int32_t sat_add(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + b;
    return s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s;
}

static int32_t sat_sub(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a - b;
    return s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s;
}

static int32_t clz32(uint32_t x)
{
    int32_t n = 0;
    while (n < 32 && !(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

static int32_t rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + b;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

/* log(x) for x >= 1, x in Q12, result in Q5 (accumulated in Q6). */
static int32_t log_q12_to_q5(int32_t x)
{
    const int32_t input_int_bits = 12;
    const int32_t accum_int_bits = 6;
    const int32_t log_2 = 1488522236;
    const int32_t sqrt_sqrt_half = 1805811301;
    const int32_t sqrt_half = 1518500250;
    const int32_t alpha_n = 117049297;
    const int32_t alpha_d = 127690142;
    const int32_t alpha_i = 1057819769;
    const int32_t alpha_f = 638450708;
    const int32_t shifted_quarter = mcuf_rdivpot(536870912, accum_int_bits); /* 1/4 in Q6 */

    const int32_t za_headroom_plus_1 = clz32((uint32_t)x);
    const int32_t r_a_tmp = mcuf_sat_shl(x, za_headroom_plus_1 - 1);
    const int32_t r_a = mcuf_sat_shl(mcuf_srdhm(r_a_tmp, sqrt_half), 1);
    const int32_t za_pow2_adj =
        sat_add(mcuf_sat_shl(input_int_bits - za_headroom_plus_1, 31 - accum_int_bits), shifted_quarter);
    const int32_t z_b = mcuf_srdhm(x, sqrt_half);
    const int32_t zb_headroom = clz32((uint32_t)z_b) - 1;
    const int32_t r_b = mcuf_sat_shl(x, zb_headroom);
    const int32_t zb_pow2_adj =
        sat_sub(mcuf_sat_shl(input_int_bits - zb_headroom, 31 - accum_int_bits), shifted_quarter);
    const int32_t r = r_a < r_b ? r_a : r_b;
    const int32_t z_pow2_adj = za_pow2_adj > zb_pow2_adj ? za_pow2_adj : zb_pow2_adj;

    const int32_t p = rounding_half_sum(r, sqrt_sqrt_half);
    int32_t q = sub32(r, sqrt_sqrt_half);
    q = add32(q, q);
    const int32_t common_sq = mcuf_srdhm(q, q);
    const int32_t num = add32(mcuf_srdhm(q, r), mcuf_srdhm(mcuf_srdhm(q, common_sq), alpha_n));
    const int32_t denom_minus_one =
        add32(mcuf_srdhm(p, add32(add32(alpha_i, q), mcuf_srdhm(alpha_d, common_sq))),
              mcuf_srdhm(alpha_f, q));
    const int32_t recip_denom = mcuf_one_over_one_plus_x(denom_minus_one);
    const int32_t num_scaled = mcuf_rdivpot(num, accum_int_bits);
    const int32_t sum = add32(mcuf_srdhm(z_pow2_adj, log_2), mcuf_srdhm(num_scaled, recip_denom));
    return mcuf_sat_shl(sum, 1); /* Q6 -> Q5 */
}

void mcuf_log_softmax_s8(const mcuf_log_softmax_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t row = 0; row < p->rows; row++) {
        const int8_t *x = in + (ptrdiff_t)row * p->depth;
        int8_t *y = out + (ptrdiff_t)row * p->depth;
        int32_t max = -128;
        for (int32_t i = 0; i < p->depth; i++) {
            max = x[i] > max ? x[i] : max;
        }
        int32_t sum_q12 = 0;
        for (int32_t i = 0; i < p->depth; i++) {
            const int32_t diff = x[i] - max;
            if (diff >= p->diff_min) {
                const int32_t q5 = mcuf_mul_by_qm(diff, p->input_multiplier, p->input_left_shift);
                sum_q12 = add32(sum_q12, mcuf_rdivpot(mcuf_exp_on_negative_q5(q5), 12));
            }
        }
        const int32_t log_sum_q5 = log_q12_to_q5(sum_q12);
        const int32_t shifted = add32(log_sum_q5, INT32_MIN);
        const int32_t rescaled = mcuf_mul_by_qm(shifted, p->reverse_scaling_divisor,
                                                -p->reverse_scaling_right_shift);
        const int32_t adjusted_diff_min = p->diff_min - 1 > rescaled ? p->diff_min - 1 : rescaled;
        for (int32_t i = 0; i < p->depth; i++) {
            const int32_t diff = x[i] - max;
            if (diff > adjusted_diff_min) {
                const int32_t q5 = mcuf_mul_by_qm(diff, p->input_multiplier, p->input_left_shift);
                int32_t v = mcuf_rdivpot(sub32(q5, log_sum_q5), 31 - 5 - 4) + 127;
                v = v > 127 ? 127 : v;
                y[i] = (int8_t)(v < -128 ? -128 : v);
            } else {
                y[i] = -128;
            }
        }
    }
}
