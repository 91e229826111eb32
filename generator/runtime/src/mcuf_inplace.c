/*
 * In-place forms of two channel-local operators, for the memory planner: the output overwrites the
 * input buffer as the input is consumed, with only a small scratch buffer.
 *
 * Both are the ordinary kernels applied to pieces, so they are bit-exact with them by construction.
 */
#include <string.h>

#include "mcuf_kernels.h"

/* Rows of n bytes from src to dst, four at a time (unaligned words are fine on the cores this runs on
 * and on the host). */
static void dw_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    for (; i + 3 < n; i += 4) {
        int32_t v;
        memcpy(&v, src + i, sizeof v);
        memcpy(dst + i, &v, sizeof v);
    }
    for (; i < n; i++) {
        dst[i] = src[i];
    }
}

void mcuf_conv1x1_inplace_s8(const mcuf_conv_params *p, int8_t *buf, const int8_t *filter,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *tmp, int32_t block)
{
    const int32_t n = p->in_h * p->in_w;
    for (int32_t p0 = 0; p0 < n; p0 += block) {
        const int32_t b = n - p0 < block ? n - p0 : block;
        mcuf_conv_params q = *p;
        q.in_h = 1;
        q.in_w = b;
        q.out_h = 1;
        q.out_w = b;
        q.out_cs = p->out_c;
        mcuf_conv2d_s8(&q, buf + p0 * p->in_cs, filter, bias, mult, shift, tmp);
        /* Output pixels p0..p0+b-1 land at or below input pixels already read (out_cs <= in_cs). */
        for (int32_t i = 0; i < b; i++) {
            memmove(buf + (p0 + i) * p->out_cs, tmp + i * p->out_c, (size_t)p->out_c);
        }
    }
}

void mcuf_conv1x1_inplace_fast_s8(const mcuf_conv_params *p, int8_t *buf, const int32_t *wf,
                                  const int32_t *bias_f, const int32_t *rq, int8_t *tmp,
                                  int32_t block, int32_t *cols)
{
    const int32_t n = p->in_h * p->in_w;
    for (int32_t p0 = 0; p0 < n; p0 += block) {
        const int32_t b = n - p0 < block ? n - p0 : block;
        mcuf_conv_params q = *p;
        q.in_h = 1;
        q.in_w = b;
        q.out_h = 1;
        q.out_w = b;
        q.out_cs = p->out_c;
        mcuf_conv2d_fast_s8(&q, buf + p0 * p->in_cs, wf, bias_f, rq, tmp, cols);
        /* tmp never overlaps buf, and the block's outputs end at or below its inputs' end: copied
         * forwards a word at a time, the whole block at once where the output is dense */
        if (p->out_cs == p->out_c) {
            dw_copy(buf + p0 * p->out_c, tmp, b * p->out_c);
        } else {
            for (int32_t i = 0; i < b; i++) {
                dw_copy(buf + (p0 + i) * p->out_cs, tmp + i * p->out_c, p->out_c);
            }
        }
    }
}

void mcuf_dwconv2d_inplace_s8(const mcuf_dwconv_params *p, int8_t *buf, const int8_t *filter,
                              const int32_t *bias, const int32_t *mult, const int32_t *shift,
                              int8_t *tmp, int32_t groups)
{
    const int32_t c = p->in_c;
    const int32_t npix = p->out_h * p->out_w;
    for (int32_t j = 0; j < groups; j++) {
        const int32_t c0 = (int32_t)((int64_t)c * j / groups);
        const int32_t c1 = (int32_t)((int64_t)c * (j + 1) / groups);
        const int32_t g = c1 - c0;
        mcuf_dwconv_params q = *p;
        q.in_c = g;
        q.out_c = g;
        q.out_cs = g;
        mcuf_dwconv2d_s8(&q, buf + c0, filter + p->k_h * p->k_w * c0, bias ? bias + c0 : NULL,
                         mult + c0, shift + c0, tmp);
        /* Channels c0..c1-1 of the input are consumed: their slots take the output. */
        for (int32_t i = 0; i < npix; i++) {
            memcpy(buf + i * p->out_cs + c0, tmp + i * g, (size_t)g);
        }
    }
}

void mcuf_dwconv2d_inplace_fast_s8(const mcuf_dwconv_params *p, int8_t *buf, const int32_t *stream,
                                   int8_t *tmp, int32_t groups)
{
    if (groups == 0) {
        /* By rows: output row oy goes to tmp slot oy % (pad_top + 1); it is copied over input row
         * oy once no later output row reads that input row (after output row oy + pad_top). */
        const int32_t row = p->in_w * p->in_cs;
        const int32_t slots = p->pad_top + 1;
        mcuf_dwconv_params q = *p;
        q.out_h = 1;
        for (int32_t oy = 0; oy < p->out_h + p->pad_top; oy++) {
            if (oy < p->out_h) {
                q.pad_top = p->pad_top - oy;
                mcuf_dwconv2d_fast_s8(&q, buf, stream, tmp + (oy % slots) * row);
            }
            const int32_t done = oy - p->pad_top;
            if (done >= 0) {
                dw_copy(buf + done * row, tmp + (done % slots) * row, row);
            }
        }
        return;
    }
    const int32_t c = p->in_c;
    const int32_t npix = p->out_h * p->out_w;
    const int32_t k = p->k_h * p->k_w;
    for (int32_t j = 0; j < groups; j++) {
        const int32_t c0 = (int32_t)((int64_t)c * j / groups);
        const int32_t c1 = (int32_t)((int64_t)c * (j + 1) / groups);
        const int32_t g = c1 - c0;
        mcuf_dwconv_params q = *p;
        q.in_c = g;
        q.out_c = g;
        q.out_cs = g;
        mcuf_dwconv2d_fast_s8(&q, buf + c0, stream, tmp);
        stream += mcuf_dwconv_fast_words(g, k);
        for (int32_t i = 0; i < npix; i++) {
            dw_copy(buf + i * p->out_cs + c0, tmp + i * g, g);
        }
    }
}
