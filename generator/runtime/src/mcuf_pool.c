/*
 * AVERAGE_POOL_2D and MAX_POOL_2D, int8 (TFLite reference_integer_ops::AveragePool / MaxPool).
 *
 * Input and output share their quantisation, so values are pooled as stored. The window is clipped
 * to the input: padding never contributes, and the average divides by the number of valid taps,
 * rounding half away from zero. act_min/act_max clamp the result.
 */
#include "mcuf_kernels.h"

/* The input window of one output pixel, clipped to the input: rows [y_lo, y_hi), cols [x_lo, x_hi). */
typedef struct {
    int32_t y_lo, y_hi, x_lo, x_hi;
} pool_window;

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static pool_window window_at(const mcuf_pool_params *p, int32_t oy, int32_t ox)
{
    pool_window w;
    int32_t y0 = oy * p->stride_h - p->pad_top;
    int32_t x0 = ox * p->stride_w - p->pad_left;
    w.y_lo = clamp_i32(y0, 0, p->in_h);
    w.y_hi = clamp_i32(y0 + p->k_h, w.y_lo, p->in_h);
    w.x_lo = clamp_i32(x0, 0, p->in_w);
    w.x_hi = clamp_i32(x0 + p->k_w, w.x_lo, p->in_w);
    return w;
}

/* Rounded quotient of the window sum, as the reference: half away from zero, C division. */
static int32_t rounded_average(int32_t sum, int32_t count)
{
    if (count == 0) {
        return 0; /* unreachable for valid TFLite padding; the reference reports an error */
    }
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

void mcuf_avgpool_s8(const mcuf_pool_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            pool_window w = window_at(p, oy, ox);
            int32_t count = (w.y_hi - w.y_lo) * (w.x_hi - w.x_lo);
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_cs;
            for (int32_t ch = 0; ch < p->c; ch++) {
                int32_t sum = 0;
                for (int32_t y = w.y_lo; y < w.y_hi; y++) {
                    for (int32_t x = w.x_lo; x < w.x_hi; x++) {
                        sum += in[(y * p->in_w + x) * p->in_cs + ch];
                    }
                }
                int32_t avg = rounded_average(sum, count);
                dst[ch] = (int8_t)clamp_i32(avg, p->act_min, p->act_max);
            }
        }
    }
}

void mcuf_maxpool_s8(const mcuf_pool_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            pool_window w = window_at(p, oy, ox);
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_cs;
            for (int32_t ch = 0; ch < p->c; ch++) {
                int32_t best = INT8_MIN;
                for (int32_t y = w.y_lo; y < w.y_hi; y++) {
                    for (int32_t x = w.x_lo; x < w.x_hi; x++) {
                        int32_t v = in[(y * p->in_w + x) * p->in_cs + ch];
                        best = v > best ? v : best;
                    }
                }
                dst[ch] = (int8_t)clamp_i32(best, p->act_min, p->act_max);
            }
        }
    }
}
