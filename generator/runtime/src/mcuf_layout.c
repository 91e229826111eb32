/*
 * Data movement without arithmetic (strided copies, fills) and the two int8 resizes.
 */
#include <stdint.h>
#include <string.h>

#include "mcuf_kernels.h"

void mcuf_strided_copy_s8(const mcuf_copy_params *p, const int8_t *src, int8_t *dst)
{
    int32_t idx[MCUF_COPY_MAX_DIMS] = {0};
    const int32_t r = p->rank;
    const int32_t n = p->counts[r - 1];
    const int32_t ss = p->src_strides[r - 1];
    const int32_t ds = p->dst_strides[r - 1];
    /* element offsets, not pointers: a walk with negative strides steps outside the buffer
     * between runs, which pointer arithmetic may not */
    int32_t so = p->src_offset;
    int32_t dof = p->dst_offset;
    for (;;) {
        if (ss == 1 && ds == 1) {
            memcpy(dst + dof, src + so, (size_t)n);
        } else {
            for (int32_t k = 0; k < n; k++) {
                dst[dof + k * ds] = src[so + k * ss];
            }
        }
        int32_t a = r - 2;
        for (; a >= 0; a--) {
            so += p->src_strides[a];
            dof += p->dst_strides[a];
            if (++idx[a] < p->counts[a]) {
                break;
            }
            so -= p->src_strides[a] * p->counts[a];
            dof -= p->dst_strides[a] * p->counts[a];
            idx[a] = 0;
        }
        if (a < 0) {
            return;
        }
    }
}

void mcuf_fill_s8(int32_t n, int32_t value, int8_t *dst)
{
    memset(dst, value, (size_t)n);
}

void mcuf_resize_nearest_s8(const mcuf_resize_params *p, const int32_t *ys, const int32_t *xs,
                            const int8_t *in, int8_t *out)
{
    const size_t c = (size_t)p->c;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t y = 0; y < p->out_h; y++) {
            const int8_t *row = in + ((size_t)b * (size_t)p->in_h + (size_t)ys[y]) * (size_t)p->in_w * c;
            int8_t *o = out + ((size_t)b * (size_t)p->out_h + (size_t)y) * (size_t)p->out_w * c;
            for (int32_t x = 0; x < p->out_w; x++) {
                memcpy(o + (size_t)x * c, row + (size_t)xs[x] * c, c);
            }
        }
    }
}

void mcuf_resize_bilinear_s8(const mcuf_resize_params *p, const int32_t *ys, const int32_t *xs,
                             const int8_t *in, int8_t *out)
{
    const int32_t c = p->c;
    const int64_t one = 1 << 10;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *map = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)c;
        for (int32_t y = 0; y < p->out_h; y++) {
            const int8_t *r0 = map + (size_t)ys[3 * y] * (size_t)p->in_w * (size_t)c;
            const int8_t *r1 = map + (size_t)ys[3 * y + 1] * (size_t)p->in_w * (size_t)c;
            const int64_t wy = ys[3 * y + 2];
            for (int32_t x = 0; x < p->out_w; x++) {
                const int32_t x0 = xs[3 * x] * c;
                const int32_t x1 = xs[3 * x + 1] * c;
                const int64_t wx = xs[3 * x + 2];
                for (int32_t ch = 0; ch < c; ch++) {
                    const int64_t v = (int64_t)r0[x0 + ch] * (one - wy) * (one - wx) +
                                      (int64_t)r1[x0 + ch] * wy * (one - wx) +
                                      (int64_t)r0[x1 + ch] * (one - wy) * wx +
                                      (int64_t)r1[x1 + ch] * wy * wx;
                    const int64_t round = v > 0 ? (1 << 19) : -(1 << 19);
                    *out++ = (int8_t)((v + round) / (1 << 20));
                }
            }
        }
    }
}
