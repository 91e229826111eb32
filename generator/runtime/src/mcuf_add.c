/* ADD, int8: TFLite reference_integer_ops::Add / BroadcastAdd6DSlow semantics. */
#include "mcuf_kernels.h"

static int32_t add_one(const mcuf_add_params *p, int32_t a, int32_t b)
{
    const int32_t sa = (a + p->in1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t sb = (b + p->in2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t raw_sum = mcuf_mul_by_qm(sa, p->in1_mult, p->in1_shift) +
                            mcuf_mul_by_qm(sb, p->in2_mult, p->in2_shift);
    int32_t v = mcuf_mul_by_qm(raw_sum, p->out_mult, p->out_shift) + p->out_offset;
    v = v < p->act_min ? p->act_min : v;
    return v > p->act_max ? p->act_max : v;
}

void mcuf_add_s8(const mcuf_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    for (int32_t i = 0; i < p->n; i++) {
        const int8_t *a = in1 + (ptrdiff_t)i * p->in1_ps;
        const int8_t *b = in2 + (ptrdiff_t)i * p->in2_ps;
        int8_t *o = out + (ptrdiff_t)i * p->out_cs;
        for (int32_t ch = 0; ch < p->c; ch++) {
            o[ch] = (int8_t)add_one(p, a[ch * p->in1_chs], b[ch * p->in2_chs]);
        }
    }
}
