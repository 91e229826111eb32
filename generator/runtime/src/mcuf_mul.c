/* MUL, int8: TFLite reference_integer_ops::Mul / BroadcastMul6DSlow semantics. */
#include "mcuf_kernels.h"

void mcuf_mul_s8(const mcuf_mul_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    for (int32_t i = 0; i < p->n; i++) {
        const int8_t *a = in1 + (ptrdiff_t)i * p->in1_ps;
        const int8_t *b = in2 + (ptrdiff_t)i * p->in2_ps;
        int8_t *o = out + (ptrdiff_t)i * p->out_cs;
        for (int32_t ch = 0; ch < p->c; ch++) {
            const int32_t prod = (a[ch * p->in1_chs] + p->in1_offset) *
                                 (b[ch * p->in2_chs] + p->in2_offset);
            int32_t v = mcuf_mul_by_qm(prod, p->out_mult, p->out_shift) + p->out_offset;
            v = v < p->act_min ? p->act_min : v;
            o[ch] = (int8_t)(v > p->act_max ? p->act_max : v);
        }
    }
}
