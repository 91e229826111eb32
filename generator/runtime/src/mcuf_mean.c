/* MEAN over H and W, int8: TFLite reference_ops::QuantizedMeanOrSum (the reference MEAN path).
 * The output is a single pixel, so out_cs (its pixel stride) does not matter here. */
#include "mcuf_kernels.h"

void mcuf_mean_hw_s8(const mcuf_mean_params *p, const int8_t *in, int8_t *out)
{
    const int32_t count = p->in_h * p->in_w;
    for (int32_t ch = 0; ch < p->c; ch++) {
        int32_t sum = 0;
        const int8_t *src = in + ch;
        for (int32_t i = 0; i < count; i++) {
            sum += src[(ptrdiff_t)i * p->in_cs];
        }
        int32_t v = mcuf_mul_by_qm(sum - p->in_zp * count, p->mult, p->shift) + p->out_zp;
        v = v < -128 ? -128 : v;
        out[ch] = (int8_t)(v > 127 ? 127 : v);
    }
}
