/* ADD, int8, with each input's rescaled term read from a table (qparams_eltwise.add_tables):
 * t[x + 128] is what TFLite's int8 Add computes for input value x before the sum, so only the
 * output's requantisation runs per element, inline. Same results as mcuf_add_s8, exactly. */
#include "mcuf_internal.h"
#include "mcuf_kernels.h"

#if MCUF_MVE
#include <arm_mve.h>
#endif

/* MultiplyByQuantizedMultiplier(x, mult, shift) of mcuf_fixedpoint.c, inlined: the doubling
 * high multiply rounded half away from zero (mult > 0, so it never saturates), then the rounding
 * right shift. */
static inline int32_t requant(int32_t x, int32_t mult, int32_t left, int32_t right)
{
    const int64_t ab = (int64_t)(int32_t)((uint32_t)x << left) * mult;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
    const int64_t q = ab + nudge;
    /* division by 2^31 truncating toward zero */
    const int32_t hi = (int32_t)((q >= 0 ? q : q + (((int64_t)1 << 31) - 1)) >> 31);
    if (right == 0) {
        return hi;
    }
    const int32_t mask = (int32_t)((1u << right) - 1u);
    const int32_t threshold = (mask >> 1) + (hi < 0 ? 1 : 0);
    return (hi >> right) + ((hi & mask) > threshold ? 1 : 0);
}

static inline int8_t finish(const mcuf_add_params *p, int32_t raw, int32_t left, int32_t right)
{
    int32_t v = requant(raw, p->out_mult, left, right) + p->out_offset;
    v = v < p->act_min ? p->act_min : v;
    return (int8_t)(v > p->act_max ? p->act_max : v);
}

#if MCUF_MVE
/* Four elements per pass: byte loads widened to words, the table terms by gathers, the doubling
 * high multiply as VQRDMULH (the same rounding as TFLite's for a positive multiplier) and the
 * rounding shift as VRSHL after subtracting 1 from negative values (which turns its
 * round-half-up into TFLite's round-half-away-from-zero). */
static int32_t add_flat_mve(const mcuf_add_params *p, const int32_t *t1, const int32_t *t2,
                            const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n,
                            int32_t left, int32_t right)
{
    const uint32x4_t flip = vdupq_n_u32(0x80u);
    const int32x4_t shl = vdupq_n_s32(left);
    const int32x4_t shr = vdupq_n_s32(-right);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32x4_t a = veorq_u32(vldrbq_u32((const uint8_t *)(in1 + i)), flip);
        const uint32x4_t b = veorq_u32(vldrbq_u32((const uint8_t *)(in2 + i)), flip);
        int32x4_t raw = vaddq_s32(vldrwq_gather_shifted_offset_s32(t1, a),
                                  vldrwq_gather_shifted_offset_s32(t2, b));
        raw = vqrdmulhq_n_s32(vshlq_s32(raw, shl), p->out_mult);
        if (right > 0) {
            raw = vqaddq_s32(raw, vshrq_n_s32(raw, 31));
            raw = vrshlq_s32(raw, shr);
        }
        raw = vaddq_n_s32(raw, p->out_offset);
        raw = vmaxq_s32(raw, vdupq_n_s32(p->act_min));
        raw = vminq_s32(raw, vdupq_n_s32(p->act_max));
        vstrbq_s32(out + i, raw);
    }
    return i;
}
#endif

void mcuf_add_lut_s8(const mcuf_add_params *p, const int32_t *t1, const int32_t *t2,
                     const int8_t *in1, const int8_t *in2, int8_t *out)
{
    const int32_t left = p->out_shift > 0 ? p->out_shift : 0;
    const int32_t right = p->out_shift > 0 ? 0 : -p->out_shift;
    const int32_t c = p->c;
    const uint8_t *a8 = (const uint8_t *)in1;
    const uint8_t *b8 = (const uint8_t *)in2;
    if (p->in1_chs == 1 && p->in2_chs == 1 && p->in1_ps == c && p->in2_ps == c && p->out_cs == c) {
        const int32_t n = p->n * c;  /* two dense maps into a dense one: one flat loop */
        int32_t i = 0;
#if MCUF_MVE
        i = add_flat_mve(p, t1, t2, in1, in2, out, n, left, right);
#endif
        for (; i < n; i++) {
            out[i] = finish(p, t1[(uint8_t)(a8[i] ^ 0x80u)] + t2[(uint8_t)(b8[i] ^ 0x80u)], left,
                            right);
        }
        return;
    }
    for (int32_t px = 0; px < p->n; px++) {
        const uint8_t *a = a8 + (ptrdiff_t)px * p->in1_ps;
        const uint8_t *b = b8 + (ptrdiff_t)px * p->in2_ps;
        int8_t *o = out + (ptrdiff_t)px * p->out_cs;
        for (int32_t ch = 0; ch < c; ch++) {
            o[ch] = finish(p, t1[(uint8_t)(a[ch * p->in1_chs] ^ 0x80u)] +
                              t2[(uint8_t)(b[ch * p->in2_chs] ^ 0x80u)], left, right);
        }
    }
}
