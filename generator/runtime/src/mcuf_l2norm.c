/* L2_NORMALIZATION, int8, over the last dimension: TFLite's reference_integer_ops::L2Normalization.
 * Each row's inverse norm is a fixed-point multiplier computed at run time as TFLite's
 * GetInvSqrtQuantizedMultiplierExp computes it (five Newton-Raphson steps in Q3); the output is in
 * steps of 1/128. */
#include "mcuf_internal.h"
#include "mcuf_kernels.h"

static int32_t clz32(uint32_t x)
{
    int32_t n = 0;
    while (n < 32 && !(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

void mcuf_inv_sqrt_qm(int32_t x, int32_t *multiplier, int32_t *shift)
{
    if (x <= 1) {
        *multiplier = INT32_MAX;
        *shift = 0;
        return;
    }
    int32_t s = 11;
    while (x >= (1 << 29)) {
        x /= 4;
        s++;
    }
    const int32_t pairs = (clz32((uint32_t)x) - 1) / 2 - 1;
    s -= pairs;
    x = (int32_t)((uint32_t)x << (2 * pairs));
    const int32_t half_input = mcuf_rdivpot(x >> 1, 1);
    const int32_t half_three = (1 << 28) + (1 << 27); /* 1.5 in Q3 */
    int32_t r = 1 << 28;                               /* 1 in Q3 */
    for (int i = 0; i < 5; i++) {
        const int32_t r3 = mcuf_sat_shl(mcuf_srdhm(mcuf_srdhm(r, r), r), 6);
        r = mcuf_sat_shl((int32_t)((uint32_t)mcuf_srdhm(half_three, r) -
                              (uint32_t)mcuf_srdhm(half_input, r3)), 3);
    }
    r = mcuf_srdhm(r, 1518500250); /* sqrt(2) / 2 */
    if (s < 0) {
        r = (int32_t)((uint32_t)r << -s);
        s = 0;
    }
    *multiplier = r;
    *shift = -s;
}

void mcuf_l2norm_s8(int32_t rows, int32_t depth, int32_t in_zp, const int8_t *in, int8_t *out)
{
    for (int32_t row = 0; row < rows; row++) {
        const int8_t *x = in + (ptrdiff_t)row * depth;
        int8_t *y = out + (ptrdiff_t)row * depth;
        int32_t acc = 0;
        for (int32_t i = 0; i < depth; i++) {
            const int32_t v = x[i] - in_zp;
            acc += v * v;
        }
        int32_t mult, shift;
        mcuf_inv_sqrt_qm(acc, &mult, &shift);
        for (int32_t i = 0; i < depth; i++) {
            int32_t v = mcuf_mul_by_qm(x[i] - in_zp, mult, shift + 7);
            v = v < -128 ? -128 : v;
            y[i] = (int8_t)(v > 127 ? 127 : v);
        }
    }
}
