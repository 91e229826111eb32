/*
 * Helpers shared by the kernels (not part of the generated code's API).
 */
#ifndef MCUF_INTERNAL_H
#define MCUF_INTERNAL_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#include <string.h>
#define MCUF_SIMD 1

static inline int8x4_t mcuf_ror8(int8x4_t v)
{
    uint32_t u = (uint32_t)v;
    return (int8x4_t)((u >> 8) | (u << 24));
}
#else
#define MCUF_SIMD 0
#endif

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for 0 <= e < 31: a saturating left shift. */
static inline int32_t mcuf_sat_shl(int32_t x, int32_t e)
{
    if (e == 0) {
        return x;
    }
    const int32_t threshold = (int32_t)((1u << (31 - e)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << e);
}

/* Helium (MVE, Armv8.1-M): the integer vector instructions (bit 0 of __ARM_FEATURE_MVE). */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define MCUF_MVE 1
#else
#define MCUF_MVE 0
#endif

/* gemmlowp's exp(a) for a <= 0 (a in Q5, result in Q0) and 1 / (1 + a) for a in [0, 1) (Q0), from
 * mcuf_softmax.c; LOG_SOFTMAX uses them too. */
int32_t mcuf_exp_on_negative_q5(int32_t a);
int32_t mcuf_one_over_one_plus_x(int32_t a);

/* sum((x[i] + x_offset) * w[i]) for i < n. */
static inline int32_t mcuf_dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t x_offset)
{
    int32_t acc = 0;
    int32_t i = 0;
#if MCUF_SIMD
    /* Four values per step, two lanes per SMLAD. (x + x_offset) is within int16 and each lane pair
     * sums to at most 2 * 255 * 128, so the result is the portable loop's exactly. */
    const int16x2_t off2 = (int16x2_t)(((uint32_t)(uint16_t)x_offset << 16) | (uint16_t)x_offset);
    for (; i + 3 < n; i += 4) {
        int8x4_t xv;
        int8x4_t wv;
        memcpy(&xv, x + i, sizeof xv);
        memcpy(&wv, w + i, sizeof wv);
        acc = __smlad(__sxtab16(off2, xv), __sxtb16(wv), acc);                    /* bytes 0, 2 */
        acc = __smlad(__sxtab16(off2, mcuf_ror8(xv)), __sxtb16(mcuf_ror8(wv)), acc); /* 1, 3 */
    }
#endif
    for (; i < n; i++) {
        acc += ((int32_t)x[i] + x_offset) * (int32_t)w[i];
    }
    return acc;
}

/* Valid taps k of `taps` with 0 <= origin + k * dil < size, as the range [*lo, *hi). */
static inline void mcuf_tap_range(int32_t origin, int32_t dil, int32_t taps, int32_t size,
                                  int32_t *lo, int32_t *hi)
{
    int32_t first = origin >= 0 ? 0 : (-origin + dil - 1) / dil;
    int32_t end = size - origin <= 0 ? 0 : (size - origin + dil - 1) / dil;
    if (end > taps) {
        end = taps;
    }
    *lo = first;
    *hi = end > first ? end : first;
}

#endif /* MCUF_INTERNAL_H */
