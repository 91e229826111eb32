/*
 * SVDF, TFLite Micro's integer kernel (EvalIntegerSvdfReference, int16 state and time weights) for
 * one invoke of a fresh interpreter.
 *
 * TFLite Micro shifts the state [batch][filters][memory] one step back, writes each filter's
 * feature product into the newest column as
 *   s = clamp16(mul_by_qm(sum((in - in_zp) * wf), mult1, shift1))     (+ the state's zero point, 0)
 * then sums (state - 0) * time weights over the memory, the rank's filters into their unit, adds the
 * bias and requantises: out = clamp8(mul_by_qm(acc, mult2, shift2) + out_zp). From a fresh state
 * every column but the newest is 0, so only the time weights' last column (wt_last) contributes
 * and no state is kept: the result is that invoke's exactly. A unit's sum wraps in int32 as
 * TFLite Micro's does.
 */
#include "mcuf_internal.h"
#include "mcuf_kernels.h"

void mcuf_svdf_s8(const mcuf_svdf_params *p, const int8_t *in, const int8_t *wf,
                  const int16_t *wt_last, const int32_t *bias, int8_t *out)
{
    const int32_t units = p->filters / p->rank;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * p->in_n;
        for (int32_t u = 0; u < units; u++) {
            int32_t acc = bias[u];
            for (int32_t j = 0; j < p->rank; j++) {
                const int32_t f = u * p->rank + j;
                int32_t s = mcuf_mul_by_qm(mcuf_dot_s8(x, wf + f * p->in_n, p->in_n, -p->in_zp),
                                           p->mult1, p->shift1);
                if (p->state_bits == 16) {
                    s = s < -32768 ? -32768 : s;
                    s = s > 32767 ? 32767 : s;
                } else { /* stored as int8 after adding the zero point (wrapping), read back */
                    s = s < -128 ? -128 : s;
                    s = s > 127 ? 127 : s;
                    s = (((s + p->state_zp + 128) & 0xFF) - 128) - p->state_zp;
                }
                /* |wt * s| < 2^30; the sum wraps in two's complement, as TFLite Micro's int32
                 * addition does where a bias near 2^31 takes it over (real models have them) */
                acc = (int32_t)((uint32_t)acc + (uint32_t)((int32_t)wt_last[f] * s));
            }
            int32_t v = mcuf_mul_by_qm(acc, p->mult2, p->shift2) + p->out_zp;
            v = v < -128 ? -128 : v;
            v = v > 127 ? 127 : v;
            out[b * units + u] = (int8_t)v;
        }
    }
}
