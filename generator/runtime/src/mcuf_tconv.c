/*
 * TRANSPOSE_CONV, int8 with per-channel requantisation (TFLite reference_integer_ops::TransposeConv),
 * in gather form.
 *
 * TFLite scatters: input pixel (iy, ix) adds (in + in_offset) * filter[oc][ky][kx] into output
 * (iy * stride_h - pad_top + ky, ix * stride_w - pad_left + kx) when that lies inside the output,
 * in an int32 scratch of the whole output, then requantises each sum. Here each output pixel
 * gathers the same terms: the taps ky with oy + pad_top - ky a multiple of stride_h whose quotient
 * is an input row (and alike for columns). The set of terms is the same, integer addition is
 * associative and import bounds every sum inside int32, so the results are TFLite's, without the
 * scratch.
 */
#include "mcuf_internal.h"
#include "mcuf_kernels.h"

/* The taps k (first, first + stride, ... up to *last inclusive) that put an input pixel at output
 * coordinate o: (o + pad - k) = i * stride with 0 <= i < in_size and 0 <= k < taps. Returns 0 when
 * none does. */
static int32_t taps_at(int32_t o, int32_t pad, int32_t stride, int32_t taps, int32_t in_size,
                       int32_t *first, int32_t *last)
{
    const int32_t t = o + pad;                    /* >= 0: o >= 0 and pad >= 0 */
    int32_t k = t % stride;                       /* the residue every such tap has */
    const int32_t lowest = t - (in_size - 1) * stride; /* i < in_size */
    int32_t hi = t < taps - 1 ? t : taps - 1;     /* i >= 0 and k < taps */
    if (lowest > k) {
        k += ((lowest - k + stride - 1) / stride) * stride;
    }
    *first = k;
    *last = hi;
    return k <= hi;
}

void mcuf_tconv2d_s8(const mcuf_tconv_params *p, const int8_t *in, const int8_t *filter,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out)
{
    const int32_t per_oc = p->k_h * p->k_w * p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t ky0, ky1;
        const int32_t rows = taps_at(oy, p->pad_top, p->stride_h, p->k_h, p->in_h, &ky0, &ky1);
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            int32_t kx0, kx1;
            const int32_t cols = taps_at(ox, p->pad_left, p->stride_w, p->k_w, p->in_w, &kx0, &kx1);
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_c;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                const int8_t *f = filter + oc * per_oc;
                int32_t acc = 0;
                if (rows && cols) {
                    for (int32_t ky = ky0; ky <= ky1; ky += p->stride_h) {
                        const int32_t iy = (oy + p->pad_top - ky) / p->stride_h;
                        for (int32_t kx = kx0; kx <= kx1; kx += p->stride_w) {
                            const int32_t ix = (ox + p->pad_left - kx) / p->stride_w;
                            acc += mcuf_dot_s8(in + (iy * p->in_w + ix) * p->in_c,
                                               f + (ky * p->k_w + kx) * p->in_c, p->in_c,
                                               p->in_offset);
                        }
                    }
                }
                if (bias != NULL) {
                    acc += bias[oc];
                }
                int32_t v = mcuf_mul_by_qm(acc, mult[oc], shift[oc]) + p->out_offset;
                v = v < p->act_min ? p->act_min : v;
                v = v > p->act_max ? p->act_max : v;
                dst[oc] = (int8_t)v;
            }
        }
    }
}
