/* LOGISTIC, int8: TFLite's reference kernel is a lookup in a 256-entry table prepared from the
 * input quantisation; the table comes from the code generator (qparams_eltwise.logistic_params). */
#include "mcuf_kernels.h"

void mcuf_logistic_s8(const mcuf_logistic_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->n; i++) {
        out[i] = p->table[(uint8_t)in[i]];
    }
}
