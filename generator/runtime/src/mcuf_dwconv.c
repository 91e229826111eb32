/*
 * DEPTHWISE_CONV_2D, int8 with per-channel requantisation
 * (TFLite reference_integer_ops::DepthwiseConvPerChannel).
 *
 * Output channel oc = ic * depth_mult + m reads input channel ic only:
 *   acc = sum over valid taps of (in[ic] + in_offset) * filter[ky][kx][oc] (+ bias[oc])
 *   out = clamp(mul_by_qm(acc, mult[oc], shift[oc]) + out_offset, act_min, act_max)
 * Taps in the padding are skipped.
 */
#include "mcuf_internal.h"
#include "mcuf_kernels.h"

/* The tap sum of output channel oc (reading input channel ic) at the pixel whose tap (0, 0) is at
 * (y0, x0); only taps ky in [ky_lo, ky_hi), kx in [kx_lo, kx_hi) are inside the input. */
static int32_t dw_sum(const mcuf_dwconv_params *p, const int8_t *in, const int8_t *filter,
                      int32_t ic, int32_t oc, const int32_t org[2], const int32_t taps[4])
{
    int32_t acc = 0;
    for (int32_t ky = taps[0]; ky < taps[1]; ky++) {
        int32_t iy = org[0] + ky * p->dil_h;
        for (int32_t kx = taps[2]; kx < taps[3]; kx++) {
            int32_t ix = org[1] + kx * p->dil_w;
            int32_t x = in[(iy * p->in_w + ix) * p->in_cs + ic];
            acc += (x + p->in_offset) * (int32_t)filter[(ky * p->k_w + kx) * p->out_c + oc];
        }
    }
    return acc;
}

void mcuf_dwconv2d_s8(const mcuf_dwconv_params *p, const int8_t *in, const int8_t *filter,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out)
{
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t org[2] = {oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left};
            int32_t taps[4];
            mcuf_tap_range(org[0], p->dil_h, p->k_h, p->in_h, &taps[0], &taps[1]);
            mcuf_tap_range(org[1], p->dil_w, p->k_w, p->in_w, &taps[2], &taps[3]);
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_cs;
            for (int32_t ic = 0; ic < p->in_c; ic++) {
                for (int32_t m = 0; m < p->depth_mult; m++) {
                    int32_t oc = ic * p->depth_mult + m;
                    int32_t acc = dw_sum(p, in, filter, ic, oc, org, taps);
                    if (bias != NULL) {
                        acc += bias[oc];
                    }
                    acc = mcuf_mul_by_qm(acc, mult[oc], shift[oc]) + p->out_offset;
                    acc = acc < p->act_min ? p->act_min : acc;
                    acc = acc > p->act_max ? p->act_max : acc;
                    dst[oc] = (int8_t)acc;
                }
            }
        }
    }
}
