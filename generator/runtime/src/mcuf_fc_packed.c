/*
 * FULLY_CONNECTED, int8, on weights packed for the inner loop at compile time
 * (generator/codegen/lower_fc.py, pack_fc_weights).
 *
 *   acc[o] = bias_f[o] + sum_i in[b][i] * w[o][i],   bias_f[o] = bias[o] + in_offset * sum_i w[o][i]
 *
 * The input offset is folded into the bias when the model is compiled, so the inner loop multiplies
 * raw int8 values. Both sums are the portable kernel's sum((in + in_offset) * w) + bias exactly:
 * import refuses models whose accumulators could leave int32 (255 * sum|w| + |bias|), and every
 * partial sum here stays below 128 * sum|w| + |bias_f|.
 *
 * Packed layout, for in_n = 4 * q + t (t < 4): output rows in blocks of MCUF_FC_ROWS (4); a block
 * holds, for each group g < q of four inputs, the four bytes w[r][4g..4g+3] of each of its rows r in
 * turn (16 bytes per group), then for each tail input j the byte w[r][4q+j] of each row. The last
 * out_n % 4 rows follow, one at a time, each as its plain in_n bytes.
 *
 * On Cortex-M with the DSP extension a block is one pass over the input: each input word is loaded
 * and sign-extended to two int16 pairs once and used by the four rows (one SMLAD per pair), so 16
 * multiply-accumulates take 1 input load, 2 SXTB16, and per row 1 load, 2 SXTB16 and 2 SMLAD.
 *
 * With Helium (MVE) a block goes 16 inputs (a chunk: four groups, 64 bytes) at a time. Row r's 16
 * weights of a chunk are its bytes 16g + 4r + j (g, j < 4), so a de-interleaving VLD4.32 puts each
 * row's 16 weights, in input order, in one q register, and one VMLADAVA.S8 per row adds its 16
 * products to the row's int32 sum: a chunk, 64 multiply-accumulates, is 1 input load, 4 VLD4 and
 * 4 VMLADAVA. VLD4.32 needs a word-aligned address, which a C int8 array need not have; from any
 * other address the same bytes come with a byte gather (VLDRB.S8 with offsets 16g + j + 4r). The
 * in_n % 16 last inputs (groups, then the tail, whose byte for row r of input 4q + j is at 4j + r
 * from the tail's start) are one tail-predicated gather per row. The integer sums are the same as
 * in the other paths, so the outputs are too.
 */
#include <string.h>

#include "mcuf_internal.h"
#include "mcuf_kernels.h"

#if MCUF_MVE
#include <arm_mve.h>
#endif

#if defined(__GNUC__)
#define FC_INLINE static inline __attribute__((always_inline))
#define FC_NOINLINE static __attribute__((noinline))
#else
#define FC_INLINE static inline
#define FC_NOINLINE static
#endif

/* GCC's scheduling before register allocation (on at -O2) hoists the SMLAD loop's loads so far
 * that its sums spill to the stack: about 12% more instructions on Cortex-M4 than at -Os. Without
 * it the loop keeps them in registers. */
#if MCUF_SIMD && defined(__GNUC__) && !defined(__clang__)
#define FC_KEEP_REGS __attribute__((optimize("no-schedule-insns")))
#else
#define FC_KEEP_REGS
#endif

enum { FC_ROWS = MCUF_FC_ROWS };

FC_INLINE uint32_t load32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#if MCUF_SIMD
/* SXTB16 of the word rotated by 8 (bytes 1 and 3), one instruction: the rotation is an operand. */
FC_INLINE int16x2_t sxtb16_odd(uint32_t v)
{
#if defined(__GNUC__)
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
#else
    return __sxtb16(mcuf_ror8((int8x4_t)v));
#endif
}

/* acc += the products of the even bytes (xe) and of the odd bytes (xo) with those of wword. */
#define FC_MAC_WORD(acc, xe, xo, wword)                                                           \
    do {                                                                                          \
        (acc) = __smlad((xe), __sxtb16(wword), (acc));                                            \
        (acc) = __smlad((xo), sxtb16_odd(wword), (acc));                                          \
    } while (0)

/* One group of four inputs at xp for the four rows of a block (16 weight bytes at wp). */
#define FC_GROUP4(xp, wp, a0, a1, a2, a3)                                                         \
    do {                                                                                          \
        uint32_t xv_ = load32(xp);                                                                \
        int16x2_t xe_ = __sxtb16(xv_);                                                            \
        int16x2_t xo_ = sxtb16_odd(xv_);                                                          \
        uint32_t w0_ = load32(wp);                                                                \
        uint32_t w1_ = load32((wp) + 4);                                                          \
        FC_MAC_WORD(a0, xe_, xo_, w0_);                                                           \
        FC_MAC_WORD(a1, xe_, xo_, w1_);                                                           \
        uint32_t w2_ = load32((wp) + 8);                                                          \
        uint32_t w3_ = load32((wp) + 12);                                                         \
        FC_MAC_WORD(a2, xe_, xo_, w2_);                                                           \
        FC_MAC_WORD(a3, xe_, xo_, w3_);                                                           \
    } while (0)
#endif

#if MCUF_MVE
/* Lane i (input 4g + j of a chunk, g = i / 4, j = i % 4) -> 16g + j: where row 0's weight is. */
FC_INLINE uint8x16_t chunk_offsets(uint8x16_t lane)
{
    return vaddq_u8(vshlq_n_u8(vshrq_n_u8(lane, 2), 4), vandq_u8(lane, vdupq_n_u8(3)));
}

/* Four rows: acc[r] = init[r] + sum_i x[i] * w[r][i]; returns the weights after the block. */
FC_NOINLINE const int8_t *block_rows4(const int8_t *x, const int8_t *w, int32_t n,
                                      const int32_t *init, int32_t *acc)
{
    int32_t a0 = init[0], a1 = init[1], a2 = init[2], a3 = init[3];
    int32_t chunks = n >> 4;
    if (((uintptr_t)w & 3u) == 0u) {
        for (; chunks > 0; chunks--) {
            int8x16_t xv = vld1q_s8(x);
            int32x4x4_t wv = vld4q_s32((const int32_t *)(const void *)w);
            a0 = vmladavaq_s8(a0, xv, vreinterpretq_s8_s32(wv.val[0]));
            a1 = vmladavaq_s8(a1, xv, vreinterpretq_s8_s32(wv.val[1]));
            a2 = vmladavaq_s8(a2, xv, vreinterpretq_s8_s32(wv.val[2]));
            a3 = vmladavaq_s8(a3, xv, vreinterpretq_s8_s32(wv.val[3]));
            x += 16;
            w += 64;
        }
    } else if (chunks > 0) {
        const uint8x16_t o0 = chunk_offsets(vidupq_n_u8(0, 1));
        const uint8x16_t o1 = vaddq_n_u8(o0, 4), o2 = vaddq_n_u8(o0, 8), o3 = vaddq_n_u8(o0, 12);
        for (; chunks > 0; chunks--) {
            int8x16_t xv = vld1q_s8(x);
            a0 = vmladavaq_s8(a0, xv, vldrbq_gather_offset_s8(w, o0));
            a1 = vmladavaq_s8(a1, xv, vldrbq_gather_offset_s8(w, o1));
            a2 = vmladavaq_s8(a2, xv, vldrbq_gather_offset_s8(w, o2));
            a3 = vmladavaq_s8(a3, xv, vldrbq_gather_offset_s8(w, o3));
            x += 16;
            w += 64;
        }
    }
    /* The rest = n % 16 last inputs: lane i < 4 * (rest / 4) is in a group (row r's byte at
     * 16g + j + 4r), a later lane a tail input (at 4i + r); lanes >= rest are off. */
    int32_t rest = n & 15;
    if (rest > 0) {
        mve_pred16_t live = vctp8q((uint32_t)rest);
        uint8x16_t lane = vidupq_n_u8(0, 1);
        mve_pred16_t tail = vcmpcsq_n_u8(lane, (uint8_t)(rest & ~3));
        uint8x16_t off = vpselq_u8(vshlq_n_u8(lane, 2), chunk_offsets(lane), tail);
        uint8x16_t step = vpselq_u8(vdupq_n_u8(1), vdupq_n_u8(4), tail);
        int8x16_t xv = vldrbq_z_s8(x, live);
        a0 = vmladavaq_s8(a0, xv, vldrbq_gather_offset_z_s8(w, off, live));
        off = vaddq_u8(off, step);
        a1 = vmladavaq_s8(a1, xv, vldrbq_gather_offset_z_s8(w, off, live));
        off = vaddq_u8(off, step);
        a2 = vmladavaq_s8(a2, xv, vldrbq_gather_offset_z_s8(w, off, live));
        off = vaddq_u8(off, step);
        a3 = vmladavaq_s8(a3, xv, vldrbq_gather_offset_z_s8(w, off, live));
        w += FC_ROWS * rest;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return w;
}
#else
/* Four rows: acc[r] = init[r] + sum_i x[i] * w[r][i]; returns the weights after the block.
 * Not inlined, so that the inner loop keeps its pointers, count and sums in registers. */
FC_KEEP_REGS FC_NOINLINE const int8_t *block_rows4(const int8_t *x, const int8_t *w, int32_t n,
                                      const int32_t *init, int32_t *acc)
{
    int32_t a0 = init[0], a1 = init[1], a2 = init[2], a3 = init[3];
    int32_t groups = n >> 2;
#if MCUF_SIMD
    /* Two groups (eight inputs) per iteration, counted down, so the loop costs two instructions
     * per 32 multiply-accumulates even where the compiler does not unroll (-Os). */
    for (int32_t pairs = groups >> 1; pairs > 0; pairs--) {
        FC_GROUP4(x, w, a0, a1, a2, a3);
        FC_GROUP4(x + 4, w + 16, a0, a1, a2, a3);
        x += 8;
        w += 32;
    }
    if (groups & 1) {
        FC_GROUP4(x, w, a0, a1, a2, a3);
        x += 4;
        w += 16;
    }
#else
    for (; groups > 0; groups--) {
        for (int32_t j = 0; j < 4; j++) {
            int32_t v = x[j];
            a0 += v * w[j];
            a1 += v * w[4 + j];
            a2 += v * w[8 + j];
            a3 += v * w[12 + j];
        }
        x += 4;
        w += 16;
    }
#endif
    for (int32_t t = n & 3; t > 0; t--) {
        int32_t v = *x++;
        a0 += v * w[0];
        a1 += v * w[1];
        a2 += v * w[2];
        a3 += v * w[3];
        w += 4;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return w;
}
#endif

/* One plain row: returns acc + sum_i x[i] * w[i]. */
FC_INLINE int32_t row1(const int8_t *x, const int8_t *w, int32_t n, int32_t acc)
{
#if MCUF_MVE
    /* 16 bytes a step (contiguous byte loads, any alignment), the last step tail-predicated. */
    for (; n > 0; n -= 16) {
        mve_pred16_t live = vctp8q((uint32_t)n);
        acc = vmladavaq_s8(acc, vldrbq_z_s8(x, live), vldrbq_z_s8(w, live));
        x += 16;
        w += 16;
    }
    return acc;
#else
    int32_t i = 0;
#if MCUF_SIMD
    for (; i + 3 < n; i += 4) {
        uint32_t xv = load32(x + i);
        uint32_t wv = load32(w + i);
        acc = __smlad(__sxtb16(xv), __sxtb16(wv), acc);
        acc = __smlad(sxtb16_odd(xv), sxtb16_odd(wv), acc);
    }
#endif
    for (; i < n; i++) {
        acc += (int32_t)x[i] * (int32_t)w[i];
    }
    return acc;
#endif
}

/* Rows [o, o + rows) of one batch (rows = FC_ROWS, or 1 past the last full block):
 * acc[r] = init[r] + the row's sum. Returns the weights after these rows. */
FC_INLINE const int8_t *rows_acc(const int8_t *x, const int8_t *w, int32_t n, int32_t rows,
                                 const int32_t *init, int32_t *acc)
{
    if (rows == FC_ROWS) {
        return block_rows4(x, w, n, init, acc);
    }
    acc[0] = row1(x, w, n, init[0]);
    return w + n;
}

FC_INLINE int32_t rows_at(int32_t o, int32_t out_n)
{
    return out_n - o >= FC_ROWS ? FC_ROWS : 1;
}

FC_INLINE int8_t clamp_out(int32_t v, int32_t act_min, int32_t act_max)
{
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

/* MultiplyByQuantizedMultiplier (TFLite's double rounding), for multipliers in [0, 2^31):
 * SaturatingRoundingDoublingHighMul cannot saturate, and its nudged, truncating division by 2^31
 * equals an arithmetic shift of (a * b + 2^30) by 31; then RoundingDivideByPOT. */
FC_INLINE int32_t requant_qm(int32_t acc, int32_t mult, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    int64_t ab = (int64_t)(int32_t)((uint32_t)acc << left) * (int64_t)mult;
    int32_t v = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    int32_t threshold = (mask >> 1) + (v < 0 ? 1 : 0);
    return (v >> right) + ((v & mask) > threshold ? 1 : 0);
}

void mcuf_fc_packed_s8(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                       const int32_t *bias_f, const int32_t *mult, const int32_t *shift,
                       int8_t *out)
{
    const int32_t n = p->in_n;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * n;
        int8_t *dst = out + b * p->out_n;
        const int8_t *w = weights;
        for (int32_t o = 0; o < p->out_n;) {
            int32_t rows = rows_at(o, p->out_n);
            int32_t acc[FC_ROWS];
            w = rows_acc(x, w, n, rows, bias_f + o, acc);
            for (int32_t r = 0; r < rows; r++) {
                int32_t k = p->per_channel ? o + r : 0;
                int32_t v = requant_qm(acc[r], mult[k], shift[k]) + p->out_offset;
                dst[o + r] = clamp_out(v, p->act_min, p->act_max);
            }
            o += rows;
        }
    }
}

void mcuf_fc_packed_s8_f64(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                           const int32_t *bias_f, const double *scale, int8_t *out)
{
    const int32_t n = p->in_n;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * n;
        int8_t *dst = out + b * p->out_n;
        const int8_t *w = weights;
        for (int32_t o = 0; o < p->out_n;) {
            int32_t rows = rows_at(o, p->out_n);
            int32_t acc[FC_ROWS];
            w = rows_acc(x, w, n, rows, bias_f + o, acc);
            for (int32_t r = 0; r < rows; r++) {
                double s = scale[p->per_channel ? o + r : 0];
                dst[o + r] = mcuf_requant_f64_s8(acc[r], s, p->out_offset, p->act_min, p->act_max);
            }
            o += rows;
        }
    }
}

void mcuf_fc_packed_s8_acc(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                           int32_t *acc)
{
    const int32_t n = p->in_n;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * n;
        int32_t *dst = acc + b * p->out_n;
        const int8_t *w = weights;
        for (int32_t o = 0; o < p->out_n;) {
            int32_t rows = rows_at(o, p->out_n);
            w = rows_acc(x, w, n, rows, dst + o, dst + o);
            o += rows;
        }
    }
}
