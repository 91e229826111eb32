/* Reductions over any axes, int8: MEAN and SUM (TFLite's reference_ops::QuantizedMeanOrSum), REDUCE_MAX
 * and REDUCE_MIN (ReduceGeneric on raw values), ARG_MAX and ARG_MIN (ArgMinMax, first index of the
 * extreme value, int32 as TFLite Micro writes it). The input is seen as kept dimensions (kd, input strides ks; the output's own
 * order, written densely) and reduced dimensions (rd, rs), MCUF_REDUCE_DIMS of each (unused ones have
 * size 1). The code generator merges adjacent dimensions of the same kind. */
#include "mcuf_kernels.h"

static inline int32_t reduce_s32(const mcuf_reduce_params *p, const int8_t *base, int32_t *acc)
{
    int32_t sum = 0;
    int32_t best = p->mode == MCUF_REDUCE_MIN || p->mode == MCUF_ARG_MIN ? 127 : -128;
    int32_t best_at = 0;
    int32_t at = 0;
    for (int32_t a = 0; a < p->rd[0]; a++) {
        for (int32_t b = 0; b < p->rd[1]; b++) {
            for (int32_t c = 0; c < p->rd[2]; c++) {
                const int8_t *row = base + (ptrdiff_t)a * p->rs[0] + (ptrdiff_t)b * p->rs[1] +
                                    (ptrdiff_t)c * p->rs[2];
                for (int32_t d = 0; d < p->rd[3]; d++, at++) {
                    const int32_t v = row[(ptrdiff_t)d * p->rs[3]];
                    switch (p->mode) {
                    case MCUF_REDUCE_SUM:
                        sum += v;
                        break;
                    case MCUF_REDUCE_MAX:
                        best = v > best ? v : best;
                        break;
                    case MCUF_REDUCE_MIN:
                        best = v < best ? v : best;
                        break;
                    case MCUF_ARG_MAX:
                        if (at == 0 || v > best) {
                            best = v;
                            best_at = at;
                        }
                        break;
                    default: /* MCUF_ARG_MIN */
                        if (at == 0 || v < best) {
                            best = v;
                            best_at = at;
                        }
                        break;
                    }
                }
            }
        }
    }
    *acc = p->mode == MCUF_REDUCE_SUM ? sum : best;
    return best_at;
}

/* Runs body for every output, in order: o_ its index, base_ its first input value. */
#define MCUF_FOR_KEPT(p, in, body)                                                               \
    do {                                                                                         \
        int32_t o_ = 0;                                                                          \
        for (int32_t a_ = 0; a_ < (p)->kd[0]; a_++)                                              \
            for (int32_t b_ = 0; b_ < (p)->kd[1]; b_++)                                          \
                for (int32_t c_ = 0; c_ < (p)->kd[2]; c_++)                                      \
                    for (int32_t d_ = 0; d_ < (p)->kd[3]; d_++, o_++) {                          \
                        const int8_t *base_ = (in) + (ptrdiff_t)a_ * (p)->ks[0] +                \
                                              (ptrdiff_t)b_ * (p)->ks[1] +                       \
                                              (ptrdiff_t)c_ * (p)->ks[2] +                       \
                                              (ptrdiff_t)d_ * (p)->ks[3];                        \
                        body                                                                     \
                    }                                                                            \
    } while (0)

void mcuf_reduce_s8(const mcuf_reduce_params *p, const int8_t *in, int8_t *out)
{
    MCUF_FOR_KEPT(p, in, {
        int32_t v;
        (void)reduce_s32(p, base_, &v);
        if (p->mode == MCUF_REDUCE_SUM) {
            v = mcuf_mul_by_qm(v - p->in_zp * p->count, p->mult, p->shift) + p->out_zp;
            v = v < -128 ? -128 : v;
            v = v > 127 ? 127 : v;
        }
        out[o_] = (int8_t)v;
    });
}

void mcuf_arg_s8_i32(const mcuf_reduce_params *p, const int8_t *in, int32_t *out)
{
    MCUF_FOR_KEPT(p, in, {
        int32_t v;
        out[o_] = reduce_s32(p, base_, &v);
    });
}
