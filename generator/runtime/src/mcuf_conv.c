/*
 * CONV_2D, int8 with per-channel requantisation (TFLite reference_integer_ops::ConvPerChannel).
 *
 * Arithmetic, in the reference's order:
 *   acc  = sum over valid taps and input channels of (in + in_offset) * filter      (int32)
 *   acc += bias[oc]
 *   out  = clamp(mul_by_qm(acc, mult[oc], shift[oc]) + out_offset, act_min, act_max)
 * Taps that fall into the padding are skipped (they are not treated as zero-valued inputs, which
 * would add in_offset * filter).  Integer addition is associative, so accumulating the channel sum
 * in slices (mcuf_conv2d_s8_acc) and finishing with mcuf_requant_s32 gives identical results.
 */
#include "mcuf_internal.h"
#include "mcuf_kernels.h"

/* The filter taps of one output pixel that land inside the input: k in [lo, hi). */
typedef struct {
    int32_t y0, x0;      /* input coordinate of tap (0, 0); may be negative */
    int32_t ky_lo, ky_hi;
    int32_t kx_lo, kx_hi;
} conv_window;

static conv_window window_at(const mcuf_conv_params *p, int32_t oy, int32_t ox)
{
    conv_window w;
    w.y0 = oy * p->stride_h - p->pad_top;
    w.x0 = ox * p->stride_w - p->pad_left;
    mcuf_tap_range(w.y0, p->dil_h, p->k_h, p->in_h, &w.ky_lo, &w.ky_hi);
    mcuf_tap_range(w.x0, p->dil_w, p->k_w, p->in_w, &w.kx_lo, &w.kx_hi);
    return w;
}

/* The channel sum of one output channel at one output pixel; f points at that channel's filter. */
static int32_t conv_sum(const mcuf_conv_params *p, const conv_window *win, const int8_t *in,
                        const int8_t *f)
{
    int32_t acc = 0;
    for (int32_t ky = win->ky_lo; ky < win->ky_hi; ky++) {
        int32_t iy = win->y0 + ky * p->dil_h;
        for (int32_t kx = win->kx_lo; kx < win->kx_hi; kx++) {
            int32_t ix = win->x0 + kx * p->dil_w;
            const int8_t *px = in + (iy * p->in_w + ix) * p->in_cs;
            acc += mcuf_dot_s8(px, f + (ky * p->k_w + kx) * p->in_c, p->in_c, p->in_offset);
        }
    }
    return acc;
}

static int8_t requant(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset,
                      int32_t act_min, int32_t act_max)
{
    int32_t v = mcuf_mul_by_qm(acc, mult, shift) + out_offset;
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

void mcuf_conv2d_s8(const mcuf_conv_params *p, const int8_t *in, const int8_t *filter,
                    const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out)
{
    const int32_t per_oc = p->k_h * p->k_w * p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            conv_window win = window_at(p, oy, ox);
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_cs;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                int32_t acc = conv_sum(p, &win, in, filter + oc * per_oc);
                if (bias != NULL) {
                    acc += bias[oc];
                }
                dst[oc] = requant(acc, mult[oc], shift[oc], p->out_offset, p->act_min, p->act_max);
            }
        }
    }
}

void mcuf_conv2d_s8_acc(const mcuf_conv_params *p, const int8_t *in, const int8_t *filter,
                        int32_t *acc)
{
    const int32_t per_oc = p->k_h * p->k_w * p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            conv_window win = window_at(p, oy, ox);
            int32_t *dst = acc + (oy * p->out_w + ox) * p->out_c;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                dst[oc] += conv_sum(p, &win, in, filter + oc * per_oc);
            }
        }
    }
}

void mcuf_requant_s32(int32_t n, int32_t c, const int32_t *acc, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, int32_t out_offset,
                      int32_t act_min, int32_t act_max, int8_t *out, int32_t out_cs)
{
    for (int32_t i = 0; i < n; i++) {
        const int32_t *src = acc + i * c;
        int8_t *dst = out + i * out_cs;
        for (int32_t ch = 0; ch < c; ch++) {
            int32_t a = src[ch] + (bias != NULL ? bias[ch] : 0);
            dst[ch] = requant(a, mult[ch], shift[ch], out_offset, act_min, act_max);
        }
    }
}
