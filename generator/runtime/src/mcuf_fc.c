/*
 * FULLY_CONNECTED, int8.
 *
 *   acc = sum_i (in[b][i] + in_offset) * weights[o][i] (+ bias[o])
 * then, with k = o when per_channel, else 0, one of two requantisations:
 *   mcuf_fc_s8:     out = clamp(mul_by_qm(acc, mult[k], shift[k]) + out_offset)   (fixed point, as
 *                   TFLite Micro and TFLite's optimised kernels)
 *   mcuf_fc_s8_f64: out = clamp(round((double)acc * scale[k]) + out_offset)        (double, as
 *                   TFLite's reference kernels, per-tensor and per-channel alike)
 * int8 weights have zero point 0, so there is no filter offset.
 */
#include "mcuf_internal.h"
#include "mcuf_kernels.h"

static int8_t clamp_s8(int64_t v, int32_t act_min, int32_t act_max)
{
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

/* round((double)acc * scale), halves away from zero, as std::round. The product is rounded to
 * double once (a separate statement through a volatile, so no fused multiply-add); the fraction
 * v - trunc(v) is exact in double, so the comparison with 0.5 decides exactly. */
static int64_t round_scaled(int32_t acc, double scale)
{
    volatile double product = (double)acc * scale;
    double v = product;
    const double limit = 1099511627776.0; /* 2**40: far outside int8 after any offset */
    v = v > limit ? limit : (v < -limit ? -limit : v);
    int64_t whole = (int64_t)v;            /* truncates toward zero */
    double frac = v - (double)whole;
    if (frac >= 0.5) {
        whole += 1;
    } else if (frac <= -0.5) {
        whole -= 1;
    }
    return whole;
}

int8_t mcuf_requant_f64_s8(int32_t acc, double scale, int32_t out_offset, int32_t act_min,
                           int32_t act_max)
{
    return clamp_s8(round_scaled(acc, scale) + out_offset, act_min, act_max);
}

void mcuf_fc_s8(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out)
{
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * p->in_n;
        int8_t *dst = out + b * p->out_n;
        for (int32_t o = 0; o < p->out_n; o++) {
            int32_t acc = mcuf_dot_s8(x, weights + o * p->in_n, p->in_n, p->in_offset);
            if (bias != NULL) {
                acc += bias[o];
            }
            int32_t k = p->per_channel ? o : 0;
            int32_t v = mcuf_mul_by_qm(acc, mult[k], shift[k]) + p->out_offset;
            dst[o] = clamp_s8(v, p->act_min, p->act_max);
        }
    }
}

void mcuf_fc_s8_f64(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                    const int32_t *bias, const double *scale, int8_t *out)
{
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * p->in_n;
        int8_t *dst = out + b * p->out_n;
        for (int32_t o = 0; o < p->out_n; o++) {
            int32_t acc = mcuf_dot_s8(x, weights + o * p->in_n, p->in_n, p->in_offset);
            if (bias != NULL) {
                acc += bias[o];
            }
            double s = scale[p->per_channel ? o : 0];
            dst[o] = mcuf_requant_f64_s8(acc, s, p->out_offset, p->act_min, p->act_max);
        }
    }
}

void mcuf_fc_s8_acc(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights, int32_t *acc)
{
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * p->in_n;
        int32_t *dst = acc + b * p->out_n;
        for (int32_t o = 0; o < p->out_n; o++) {
            dst[o] += mcuf_dot_s8(x, weights + o * p->in_n, p->in_n, p->in_offset);
        }
    }
}

void mcuf_requant_s32_f64(int32_t n, int32_t c, const int32_t *acc, const int32_t *bias,
                          const double *scale, int32_t out_offset, int32_t act_min,
                          int32_t act_max, int8_t *out, int32_t out_cs)
{
    for (int32_t i = 0; i < n; i++) {
        const int32_t *src = acc + i * c;
        int8_t *dst = out + i * out_cs;
        for (int32_t ch = 0; ch < c; ch++) {
            int32_t a = src[ch] + (bias != NULL ? bias[ch] : 0);
            dst[ch] = mcuf_requant_f64_s8(a, scale[ch], out_offset, act_min, act_max);
        }
    }
}
