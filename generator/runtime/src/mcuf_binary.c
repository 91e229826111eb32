/* MAXIMUM, MINIMUM and PRELU, int8 (elementwise and reductions family). Operands are addressed as
 * ADD's (data[pixel * ps + ch * chs]), so the same broadcast forms work: a full map, one value per
 * pixel, one per channel, one value. */
#include "mcuf_kernels.h"

void mcuf_maxmin_s8(const mcuf_maxmin_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    for (int32_t px = 0; px < p->n; px++) {
        const int8_t *a = in1 + (ptrdiff_t)px * p->in1_ps;
        const int8_t *b = in2 + (ptrdiff_t)px * p->in2_ps;
        int8_t *o = out + (ptrdiff_t)px * p->out_cs;
        for (int32_t ch = 0; ch < p->c; ch++) {
            const int8_t x = a[ch * p->in1_chs];
            const int8_t y = b[ch * p->in2_chs];
            o[ch] = p->is_max ? (x > y ? x : y) : (x < y ? x : y);
        }
    }
}

void mcuf_prelu_s8(const mcuf_prelu_params *p, const int8_t *in, const int8_t *alpha, int8_t *out)
{
    for (int32_t px = 0; px < p->n; px++) {
        const int8_t *x = in + (ptrdiff_t)px * p->in_ps;
        const int8_t *a = alpha + (ptrdiff_t)px * p->alpha_ps;
        int8_t *o = out + (ptrdiff_t)px * p->out_cs;
        for (int32_t ch = 0; ch < p->c; ch++) {
            const int32_t v = x[ch * p->in_chs] + p->in_offset;
            int32_t r;
            if (v >= 0) {
                r = mcuf_mul_by_qm(v, p->mult1, p->shift1);
            } else {
                r = mcuf_mul_by_qm(v * (a[ch * p->alpha_chs] + p->alpha_offset), p->mult2,
                                   p->shift2);
            }
            r += p->out_offset;
            r = r < -128 ? -128 : r;
            o[ch] = (int8_t)(r > 127 ? 127 : r);
        }
    }
}

void mcuf_sqdiff_s8(const mcuf_sqdiff_params *p, const int32_t *t1, const int32_t *t2,
                    const int8_t *in1, const int8_t *in2, int8_t *out)
{
    for (int32_t px = 0; px < p->n; px++) {
        const uint8_t *a = (const uint8_t *)in1 + (ptrdiff_t)px * p->in1_ps;
        const uint8_t *b = (const uint8_t *)in2 + (ptrdiff_t)px * p->in2_ps;
        int8_t *o = out + (ptrdiff_t)px * p->out_cs;
        for (int32_t ch = 0; ch < p->c; ch++) {
            const int32_t d = t1[(uint8_t)(a[ch * p->in1_chs] ^ 0x80u)] -
                              t2[(uint8_t)(b[ch * p->in2_chs] ^ 0x80u)];
            int32_t v = mcuf_mul_by_qm(d * d, p->out_mult, p->out_shift) + p->out_offset;
            v = v < -128 ? -128 : v;
            o[ch] = (int8_t)(v > 127 ? 127 : v);
        }
    }
}
