/*
 * FULLY_CONNECTED, int8 (TFLite reference_integer_ops::FullyConnected and FullyConnectedPerChannel).
 *
 *   acc = sum_i (in[b][i] + in_offset) * weights[o][i] (+ bias[o])
 *   out = clamp(mul_by_qm(acc, mult[k], shift[k]) + out_offset, act_min, act_max)
 * with k = o when per_channel, else 0. int8 weights have zero point 0, so no filter offset.
 */
#include "mcuf_kernels.h"

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#include <string.h>
#define MCUF_SIMD 1

static inline int8x4_t ror8(int8x4_t v)
{
    uint32_t u = (uint32_t)v;
    return (int8x4_t)((u >> 8) | (u << 24));
}
#else
#define MCUF_SIMD 0
#endif

/* sum((x[i] + x_offset) * w[i]) for i < n. */
static int32_t dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t x_offset)
{
    int32_t acc = 0;
    int32_t i = 0;
#if MCUF_SIMD
    /* Four values per step, two lanes per SMLAD; exact, as in mcuf_conv.c. */
    const int16x2_t off2 = (int16x2_t)(((uint32_t)(uint16_t)x_offset << 16) | (uint16_t)x_offset);
    for (; i + 3 < n; i += 4) {
        int8x4_t xv;
        int8x4_t wv;
        memcpy(&xv, x + i, sizeof xv);
        memcpy(&wv, w + i, sizeof wv);
        acc = __smlad(__sxtab16(off2, xv), __sxtb16(wv), acc);
        acc = __smlad(__sxtab16(off2, ror8(xv)), __sxtb16(ror8(wv)), acc);
    }
#endif
    for (; i < n; i++) {
        acc += ((int32_t)x[i] + x_offset) * (int32_t)w[i];
    }
    return acc;
}

void mcuf_fc_s8(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out)
{
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * p->in_n;
        int8_t *dst = out + b * p->out_n;
        for (int32_t o = 0; o < p->out_n; o++) {
            int32_t acc = dot_s8(x, weights + o * p->in_n, p->in_n, p->in_offset);
            if (bias != NULL) {
                acc += bias[o];
            }
            int32_t k = p->per_channel ? o : 0;
            acc = mcuf_mul_by_qm(acc, mult[k], shift[k]) + p->out_offset;
            acc = acc < p->act_min ? p->act_min : acc;
            acc = acc > p->act_max ? p->act_max : acc;
            dst[o] = (int8_t)acc;
        }
    }
}

void mcuf_fc_s8_acc(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights, int32_t *acc)
{
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * p->in_n;
        int32_t *dst = acc + b * p->out_n;
        for (int32_t o = 0; o < p->out_n; o++) {
            dst[o] += dot_s8(x, weights + o * p->in_n, p->in_n, p->in_offset);
        }
    }
}
