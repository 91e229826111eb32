/* LOGISTIC, int8: TFLite's reference kernel is a lookup in a 256-entry table prepared from the
 * input quantisation; the table comes from the code generator (qparams_eltwise.logistic_params). */
#include "mcuf_kernels.h"

void mcuf_logistic_s8(const mcuf_logistic_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->n; i++) {
        out[i] = p->table[(uint8_t)in[i]];
    }
}

void mcuf_lut_rows_s8(int32_t n, int32_t c, const int8_t *table, const int8_t *in, int32_t in_cs,
                      int8_t *out, int32_t out_cs)
{
    for (int32_t px = 0; px < n; px++) {
        const int8_t *x = in + (ptrdiff_t)px * in_cs;
        int8_t *y = out + (ptrdiff_t)px * out_cs;
        for (int32_t ch = 0; ch < c; ch++) {
            y[ch] = table[(uint8_t)x[ch]];
        }
    }
}
