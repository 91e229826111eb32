/*
 * Fast DEPTHWISE_CONV_2D (depth multiplier 1), bit-exact with mcuf_dwconv2d_s8.
 *
 * The code generator (generator/codegen/dw_fast.py) prepares one int32 stream per call, read front to
 * back: for each group of four channels c..c+3 (then a remaining pair, then an odd last channel):
 *    the folded biases  bf = 2 (bias + in_offset * sum_t w[t])                       (4 | 2 | 1 words)
 *    the doubled filter as int16 pairs, per tap t:
 *        four channels: (2w[t][c], 2w[t][c+2]), (2w[t][c+1], 2w[t][c+3])           (2 k words)
 *        a pair:        (2w[t][c], 2w[t][c+1])                                      (k words)
 *        one channel:   (2w[t][c], 0)                                               (k words)
 *    per channel {m, K, r}: multiplier, K = 2^(r-1) + (out_offset << r), right shift r (3 words each)
 * (mcuf_dwconv_fast_words(n, k) words for n channels of k = k_h * k_w taps).
 *
 * The accumulator is acc2 = bf + sum_t 2 w[t] x[t] = 2 (bias + sum_t (x[t] + in_offset) w[t]) when a
 * tap in the padding reads the input zero point (-in_offset): then it adds nothing, exactly as
 * TFLite's skipped taps. With the conditions the generator checks (every shift a right shift r >= 1,
 * |bias| + 256 sum|w| < 2^30, K +- that bound within int32), TFLite's MultiplyByQuantizedMultiplier
 * plus the output offset is exactly
 *    v   = SaturatingRoundingDoublingHighMul(acc, m) = (acc2 m + 2^31) >> 32
 *    out = RoundingDivideByPOT(v, r) + out_offset    = (v + K + (acc2 < 0 ? -1 : 0)) >> r
 * (SMMLAR gives v + K in one instruction; the sign of acc stands for the sign of v: they differ only
 * when v = 0, where the -1 does not change the quotient because r >= 1).
 *
 * On Cortex-M with the DSP extension, four input bytes become two int16 pairs (SXTB16: channels c, c+2
 * and c+1, c+3) multiplied lane by lane with SMLABB / SMLATT into one accumulator per channel. An
 * interior pixel of a 3x3 filter runs one straight block per group of four channels (biases, nine
 * taps, requantisation: 104 instructions for 36 multiply-accumulates); border pixels take the
 * zero point for their padded taps. The portable path computes the same in C.
 */
#include <string.h>

#include "mcuf_internal.h"
#include "mcuf_kernels.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mcuf_dwconv_fast.c: the fast filter layout assumes a little-endian target"
#endif

#define DW_INLINE static inline __attribute__((always_inline))

/* The hand-scheduled blocks need the optimiser's register allocation (up to 13 registers). They read
 * the input and the stream, which the asm statements cannot name exactly: "memory" orders them after
 * every store before them. */
#if MCUF_SIMD && defined(__OPTIMIZE__)
#define DW_ASM 1
#else
#define DW_ASM 0
#endif

/* ---- the instructions (DSP extension, or their exact C equivalents) -------------------------- */

#if MCUF_SIMD
DW_INLINE int32_t dw_ext0(int32_t v) /* (sext byte 0, sext byte 2) */
{
    return __sxtb16(v);
}

DW_INLINE int32_t dw_ext1(int32_t v) /* (sext byte 1, sext byte 3) */
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

DW_INLINE int32_t dw_bb(int32_t a, int32_t b, int32_t acc)
{
    return __smlabb(a, b, acc);
}

DW_INLINE int32_t dw_tt(int32_t a, int32_t b, int32_t acc)
{
    return __smlatt(a, b, acc);
}

DW_INLINE int32_t dw_bt(int32_t a, int32_t b, int32_t acc)
{
    return __smlabt(a, b, acc);
}

DW_INLINE int32_t dw_mlar(int32_t a, int32_t b, int32_t k) /* k + ((a b + 2^31) >> 32) */
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(k));
    return r;
}

DW_INLINE int32_t dw_sat8(int32_t v)
{
    return __ssat(v, 8);
}
#else
DW_INLINE int32_t dw_lo(int32_t v)
{
    return (int32_t)(int16_t)(uint16_t)(uint32_t)v;
}

DW_INLINE int32_t dw_hi(int32_t v)
{
    return (int32_t)(int16_t)(uint16_t)((uint32_t)v >> 16);
}

DW_INLINE int32_t dw_byte(int32_t v, int32_t i)
{
    return (int32_t)(int8_t)(uint8_t)((uint32_t)v >> (8 * i));
}

DW_INLINE int32_t dw_pack(int32_t lo, int32_t hi)
{
    return (int32_t)((uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16));
}

DW_INLINE int32_t dw_ext0(int32_t v)
{
    return dw_pack(dw_byte(v, 0), dw_byte(v, 2));
}

DW_INLINE int32_t dw_ext1(int32_t v)
{
    return dw_pack(dw_byte(v, 1), dw_byte(v, 3));
}

DW_INLINE int32_t dw_bb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(dw_lo(a) * dw_lo(b)));
}

DW_INLINE int32_t dw_tt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(dw_hi(a) * dw_hi(b)));
}

DW_INLINE int32_t dw_bt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(dw_lo(a) * dw_hi(b)));
}

DW_INLINE int32_t dw_mlar(int32_t a, int32_t b, int32_t k)
{
    const int64_t high = ((int64_t)a * (int64_t)b + ((int64_t)1 << 31)) >> 32;
    return (int32_t)((uint32_t)k + (uint32_t)(int32_t)high);
}

DW_INLINE int32_t dw_sat8(int32_t v)
{
    return v < -128 ? -128 : (v > 127 ? 127 : v);
}
#endif

DW_INLINE int32_t dw_ld4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

DW_INLINE int32_t dw_ld2(const int8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return (int32_t)v;
}

/* ---- what a call needs besides its pointers ------------------------------------------------------ */

typedef struct {
    int32_t row, col;  /* input bytes between taps along y and along x */
    int32_t k_h, k_w;  /* filter taps */
    int32_t zp4;       /* the input zero point in four bytes: what a padded tap reads */
    int32_t lo, hi;    /* the activation clamp */
} dw_ctx;

/* One output from acc2 and its record q = {m, K, r}; sat: the clamp is int8's. */
DW_INLINE int8_t dw_out(int32_t acc2, const int32_t *q, const dw_ctx *cx, int sat)
{
    int32_t y = (dw_mlar(acc2, q[0], q[1]) + (acc2 >> 31)) >> q[2];
    if (sat) {
        y = dw_sat8(y);
    } else {
        y = y < cx->lo ? cx->lo : y;
        y = y > cx->hi ? cx->hi : y;
    }
    return (int8_t)y;
}

/* ---- one tap of four channels: v holds their input bytes, *w their two weight words ------------- */

DW_INLINE void dw_mac4(int32_t v, const int32_t **w, int32_t a[4])
{
#if DW_ASM
    int32_t e, w0, w1;
    const int32_t *wp = *w;
    __asm__("ldrd    %[w0], %[w1], [%[wp]], #8\n\t"
            "sxtb16  %[e], %[v]\n\t"
            "sxtb16  %[v], %[v], ror #8\n\t"
            "smlabb  %[a0], %[e], %[w0], %[a0]\n\t"
            "smlatt  %[a2], %[e], %[w0], %[a2]\n\t"
            "smlabb  %[a1], %[v], %[w1], %[a1]\n\t"
            "smlatt  %[a3], %[v], %[w1], %[a3]\n\t"
            : [a0] "+r"(a[0]), [a1] "+r"(a[1]), [a2] "+r"(a[2]), [a3] "+r"(a[3]), [v] "+r"(v),
              [wp] "+r"(wp), [e] "=&r"(e), [w0] "=&r"(w0), [w1] "=&r"(w1)
            :
            : "memory");
    *w = wp;
#else
    const int32_t *wp = *w;
    const int32_t e = dw_ext0(v);
    const int32_t o = dw_ext1(v);
    a[0] = dw_bb(e, wp[0], a[0]);
    a[2] = dw_tt(e, wp[0], a[2]);
    a[1] = dw_bb(o, wp[1], a[1]);
    a[3] = dw_tt(o, wp[1], a[3]);
    *w = wp + 2;
#endif
}

/* The records of four channels at *w (advanced past them) applied to a[0..3], written to dst[0..3]. */
DW_INLINE void dw_out4(const int32_t a[4], const int32_t **w, const dw_ctx *cx, int sat,
                       int8_t *dst)
{
#if DW_ASM
    if (sat) {
        const int32_t *wp = *w;
        int32_t m, k, r;
#define DW_ASM_OUT(J)                                                                               \
    "ldrd    %[m], %[k], [%[wp]], #8\n\t"                                                           \
    "ldr     %[r], [%[wp]], #4\n\t"                                                                 \
    "smmlar  %[m], %[a" J "], %[m], %[k]\n\t"                                                      \
    "add     %[m], %[m], %[a" J "], asr #31\n\t"                                                   \
    "asr     %[m], %[m], %[r]\n\t"                                                                  \
    "ssat    %[m], #8, %[m]\n\t"                                                                    \
    "strb    %[m], [%[d], #" J "]\n\t"
        __asm__ volatile(DW_ASM_OUT("0") DW_ASM_OUT("1") DW_ASM_OUT("2") DW_ASM_OUT("3")
                         : [wp] "+r"(wp), [m] "=&r"(m), [k] "=&r"(k), [r] "=&r"(r)
                         : [a0] "r"(a[0]), [a1] "r"(a[1]), [a2] "r"(a[2]), [a3] "r"(a[3]),
                           [d] "r"(dst)
                         : "memory");
#undef DW_ASM_OUT
        *w = wp;
        return;
    }
#endif
    for (int32_t j = 0; j < 4; j++) {
        dst[j] = dw_out(a[j], *w + 3 * j, cx, sat);
    }
    *w += 12;
}

/* ---- a 3x3 interior pixel, four channels: the whole group in one block ---------------------------- */

#if DW_ASM
#define DW_ASM_TAP(ADDR)                                                                            \
    "ldr     %[x], " ADDR "\n\t"                                                                    \
    "ldrd    %[w0], %[w1], [%[wp]], #8\n\t"                                                         \
    "sxtb16  %[e], %[x]\n\t"                                                                        \
    "sxtb16  %[x], %[x], ror #8\n\t"                                                                \
    "smlabb  %[a0], %[e], %[w0], %[a0]\n\t"                                                         \
    "smlatt  %[a2], %[e], %[w0], %[a2]\n\t"                                                         \
    "smlabb  %[a1], %[x], %[w1], %[a1]\n\t"                                                         \
    "smlatt  %[a3], %[x], %[w1], %[a3]\n\t"
#define DW_ASM_ROW                                                                                  \
    DW_ASM_TAP("[%[p]]") DW_ASM_TAP("[%[p], %[col]]") DW_ASM_TAP("[%[p], %[col], lsl #1]")
#define DW_ASM_OUT(J)                                                                               \
    "ldrd    %[x], %[e], [%[wp]], #8\n\t"                                                           \
    "ldr     %[w0], [%[wp]], #4\n\t"                                                                \
    "smmlar  %[x], %[a" J "], %[x], %[e]\n\t"                                                      \
    "add     %[x], %[x], %[a" J "], asr #31\n\t"                                                   \
    "asr     %[x], %[x], %[w0]\n\t"                                                                 \
    "ssat    %[x], #8, %[x]\n\t"                                                                    \
    "strb    %[x], [%[d], #" J "]\n\t"
#endif

/* Tap (0, 0) at x; *w: the group's stream (advanced past it). sat: clamp to int8 (the only case the
 * block handles whole; otherwise the block stops before the requantisation). */
DW_INLINE void dw_group3x3(const int8_t *x, const dw_ctx *cx, const int32_t **w, int sat,
                           int8_t *dst)
{
#if DW_ASM
    const int8_t *p = x;
    const int32_t *wp = *w;
    int32_t a[4], xv, e, w0, w1;
    if (sat) {
        __asm__ volatile(
            "ldrd    %[a0], %[a1], [%[wp]], #8\n\t"
            "ldrd    %[a2], %[a3], [%[wp]], #8\n\t"
            DW_ASM_ROW "add     %[p], %[p], %[row]\n\t"
            DW_ASM_ROW "add     %[p], %[p], %[row]\n\t"
            DW_ASM_ROW
            DW_ASM_OUT("0") DW_ASM_OUT("1") DW_ASM_OUT("2") DW_ASM_OUT("3")
            : [a0] "=&r"(a[0]), [a1] "=&r"(a[1]), [a2] "=&r"(a[2]), [a3] "=&r"(a[3]), [p] "+r"(p),
              [wp] "+r"(wp), [x] "=&r"(xv), [e] "=&r"(e), [w0] "=&r"(w0), [w1] "=&r"(w1)
            : [col] "r"(cx->col), [row] "r"(cx->row), [d] "r"(dst)
            : "memory");
        *w = wp;
        return;
    }
    __asm__("ldrd    %[a0], %[a1], [%[wp]], #8\n\t"
            "ldrd    %[a2], %[a3], [%[wp]], #8\n\t"
            DW_ASM_ROW "add     %[p], %[p], %[row]\n\t"
            DW_ASM_ROW "add     %[p], %[p], %[row]\n\t"
            DW_ASM_ROW
            : [a0] "=&r"(a[0]), [a1] "=&r"(a[1]), [a2] "=&r"(a[2]), [a3] "=&r"(a[3]), [p] "+r"(p),
              [wp] "+r"(wp), [x] "=&r"(xv), [e] "=&r"(e), [w0] "=&r"(w0), [w1] "=&r"(w1)
            : [col] "r"(cx->col), [row] "r"(cx->row)
            : "memory");
    *w = wp;
    dw_out4(a, w, cx, sat, dst);
#else
    const int32_t *wp = *w;
    int32_t a[4] = {wp[0], wp[1], wp[2], wp[3]};
    wp += 4;
    for (int32_t ky = 0; ky < 3; ky++) {
        for (int32_t kx = 0; kx < 3; kx++) {
            dw_mac4(dw_ld4(x + ky * cx->row + kx * cx->col), &wp, a);
        }
    }
    *w = wp;
    dw_out4(a, w, cx, sat, dst);
#endif
}

/* ---- any pixel: taps outside the input read the zero point -------------------------------------- */

DW_INLINE int32_t dw_ld1(const int8_t *p)
{
    return (int32_t)*p;
}

/* The input bytes of tap (ky, kx): bit ky of rows and bit kx of cols set if it is inside (the
 * address in + i + ky row + kx col is formed only then), else ZP. */
#define DW_TAP_IN(LOAD, ZP)                                                                         \
    ((((rows >> ky) & (cols >> kx)) & 1u) != 0u ? LOAD(in + i + ky * cx->row + kx * cx->col) : (ZP))

/* A pixel whose tap (0, 0) would be input element i (channel 0); n channels. */
DW_INLINE void dw_pixel(const dw_ctx *cx, const int8_t *in, int32_t i, uint32_t rows, uint32_t cols,
                        const int32_t *w, int32_t n, int8_t *dst, int sat)
{
    int32_t c = 0;
    for (; c + 3 < n; c += 4) {
        int32_t a[4] = {w[0], w[1], w[2], w[3]};
        w += 4;
        for (int32_t ky = 0; ky < cx->k_h; ky++) {
            for (int32_t kx = 0; kx < cx->k_w; kx++) {
                dw_mac4(DW_TAP_IN(dw_ld4, cx->zp4), &w, a);
            }
        }
        dw_out4(a, &w, cx, sat, dst + c);
        i += 4;
    }
    if (n - c >= 2) {
        int32_t a0 = w[0];
        int32_t a1 = w[1];
        w += 2;
        for (int32_t ky = 0; ky < cx->k_h; ky++) {
            for (int32_t kx = 0; kx < cx->k_w; kx++) {
                const int32_t v = DW_TAP_IN(dw_ld2, cx->zp4);
                a0 = dw_bb(dw_ext0(v), *w, a0);
                a1 = dw_bt(dw_ext1(v), *w, a1);
                w++;
            }
        }
        dst[c] = dw_out(a0, w, cx, sat);
        dst[c + 1] = dw_out(a1, w + 3, cx, sat);
        w += 6;
        i += 2;
        c += 2;
    }
    if (c < n) {
        int32_t a0 = *w++;
        for (int32_t ky = 0; ky < cx->k_h; ky++) {
            for (int32_t kx = 0; kx < cx->k_w; kx++) {
                const int32_t v = DW_TAP_IN(dw_ld1, (int32_t)(int8_t)cx->zp4);
                a0 = dw_bb(v, *w, a0);
                w++;
            }
        }
        dst[c] = dw_out(a0, w, cx, sat);
    }
}

/* ---- a 3x3 pixel with any valid taps, unrolled ---------------------------------------------------- */

#define DW_TAPS3X3(TAP)                                                                             \
    do {                                                                                            \
        TAP(0, 0); TAP(0, 1); TAP(0, 2);                                                            \
        TAP(1, 0); TAP(1, 1); TAP(1, 2);                                                            \
        TAP(2, 0); TAP(2, 1); TAP(2, 2);                                                            \
    } while (0)
#define DW_IN3(LOAD, ZP, KY, KX)                                                                    \
    ((((rows >> (KY)) & (cols >> (KX))) & 1u) != 0u                                               \
         ? LOAD(in + i + (KY) * cx->row + (KX) * cx->col) : (ZP))
#define DW_T4(KY, KX) dw_mac4(DW_IN3(dw_ld4, cx->zp4, KY, KX), &w, a)
#define DW_T2(KY, KX)                                                                               \
    do {                                                                                            \
        const int32_t v = DW_IN3(dw_ld2, cx->zp4, KY, KX);                                         \
        a0 = dw_bb(dw_ext0(v), *w, a0);                                                             \
        a1 = dw_bt(dw_ext1(v), *w, a1);                                                             \
        w++;                                                                                        \
    } while (0)
#define DW_T1(KY, KX)                                                                               \
    do {                                                                                            \
        a0 = dw_bb(DW_IN3(dw_ld1, (int32_t)(int8_t)cx->zp4, KY, KX), *w, a0);                      \
        w++;                                                                                        \
    } while (0)

/* A 3x3 pixel whose tap (0, 0) would be input element i (channel 0); rows / cols: the valid tap rows
 * and columns as bits; groups: also the groups of four channels this way (else only the tail
 * channels past the last multiple of four). n channels. */
DW_INLINE void dw_pixel3x3(const dw_ctx *cx, const int8_t *in, int32_t i, uint32_t rows,
                           uint32_t cols, const int32_t *w, int32_t n, int8_t *dst, int sat)
{
    int32_t c = 0;
    for (; c + 3 < n; c += 4) {
        int32_t a[4] = {w[0], w[1], w[2], w[3]};
        w += 4;
        DW_TAPS3X3(DW_T4);
        dw_out4(a, &w, cx, sat, dst + c);
        i += 4;
    }
    if (n - c >= 2) {
        int32_t a0 = w[0];
        int32_t a1 = w[1];
        w += 2;
        DW_TAPS3X3(DW_T2);
        dst[c] = dw_out(a0, w, cx, sat);
        dst[c + 1] = dw_out(a1, w + 3, cx, sat);
        w += 6;
        i += 2;
        c += 2;
    }
    if (c < n) {
        int32_t a0 = *w++;
        DW_TAPS3X3(DW_T1);
        dst[c] = dw_out(a0, w, cx, sat);
    }
}

/* ---- the output map ---------------------------------------------------------------------------------- */

/* Taps k with 0 <= origin + k dil < size, as the bits of a mask (taps <= 32). */
DW_INLINE uint32_t dw_tap_bits(int32_t origin, int32_t dil, int32_t taps, int32_t size)
{
    uint32_t bits = 0u;
    for (int32_t k = 0; k < taps; k++) {
        const int32_t at = origin + k * dil;
        bits |= (at >= 0 && at < size) ? (1u << k) : 0u;
    }
    return bits;
}

/* Outputs o in [*lo, *hi) with every tap inside: o stride - pad >= 0 and
 * o stride - pad + (taps - 1) dil < size. */
DW_INLINE void dw_inner(int32_t n_out, int32_t stride, int32_t pad, int32_t taps, int32_t dil,
                        int32_t size, int32_t *lo, int32_t *hi)
{
    const int32_t span = size - 1 - (taps - 1) * dil + pad;
    int32_t a = (pad + stride - 1) / stride;
    int32_t b = span < 0 ? 0 : span / stride + 1;
    a = a > n_out ? n_out : a;
    b = b > n_out ? n_out : b;
    *lo = a;
    *hi = b > a ? b : a;
}

/* Output pixel (oy, ox) the general way (borders, and filters other than 3x3). */
static void dw_edge(const mcuf_dwconv_params *p, const dw_ctx *cx, const int8_t *in,
                    const int32_t *w, int8_t *out, int32_t oy, int32_t ox)
{
    const int32_t iy = oy * p->stride_h - p->pad_top;
    const int32_t ix = ox * p->stride_w - p->pad_left;
    const uint32_t rows = dw_tap_bits(iy, p->dil_h, p->k_h, p->in_h);
    const uint32_t cols = dw_tap_bits(ix, p->dil_w, p->k_w, p->in_w);
    int8_t *dst = out + (oy * p->out_w + ox) * p->out_cs;
    const int32_t i = (iy * p->in_w + ix) * p->in_cs;
    const int sat = p->act_min == -128 && p->act_max == 127;
    if (p->k_h == 3 && p->k_w == 3 && sat) {
        dw_pixel3x3(cx, in, i, rows, cols, w, p->in_c, dst, 1);
    } else if (p->k_h == 3 && p->k_w == 3) {
        dw_pixel3x3(cx, in, i, rows, cols, w, p->in_c, dst, 0);
    } else if (sat) {
        dw_pixel(cx, in, i, rows, cols, w, p->in_c, dst, 1);
    } else {
        dw_pixel(cx, in, i, rows, cols, w, p->in_c, dst, 0);
    }
}

/* The interior pixels [ox0, ox1) of output row oy, 3x3 filter. */
DW_INLINE void dw_inner_row(const mcuf_dwconv_params *p, const dw_ctx *cx, const int8_t *in,
                            const int32_t *stream, int8_t *out, int32_t oy, int32_t ox0, int32_t ox1,
                            int sat)
{
    const int32_t n = p->in_c;
    const int32_t step = p->stride_w * p->in_cs;
    const int8_t *x = in + ((oy * p->stride_h - p->pad_top) * p->in_w + ox0 * p->stride_w -
                            p->pad_left) * p->in_cs;
    int8_t *dst = out + (oy * p->out_w + ox0) * p->out_cs;
    for (int32_t ox = ox0; ox < ox1; ox++) {
        const int32_t *w = stream;
        int32_t c = 0;
        for (; c + 3 < n; c += 4) {
            dw_group3x3(x + c, cx, &w, sat, dst + c);
        }
        if (c < n) {
            dw_pixel3x3(cx, x, c, 0x7u, 0x7u, w, n - c, dst + c, sat);
        }
        x += step;
        dst += p->out_cs;
    }
}

int32_t mcuf_dwconv_fast_words(int32_t n, int32_t k)
{
    return (n / 4) * (4 + 2 * k + 12) + ((n & 2) >> 1) * (2 + k + 6) + (n & 1) * (1 + k + 3);
}

void mcuf_dwconv2d_fast_s8(const mcuf_dwconv_params *p, const int8_t *in, const int32_t *stream,
                           int8_t *out)
{
    const uint32_t zp = (uint8_t)(int8_t)(-p->in_offset);
    const dw_ctx cx = {
        .row = p->dil_h * p->in_w * p->in_cs, .col = p->dil_w * p->in_cs,
        .k_h = p->k_h, .k_w = p->k_w, .zp4 = (int32_t)(zp * 0x01010101u),
        .lo = p->act_min, .hi = p->act_max,
    };
    const int sat = p->act_min == -128 && p->act_max == 127;
    int32_t oy0, oy1, ox0, ox1;
    dw_inner(p->out_h, p->stride_h, p->pad_top, p->k_h, p->dil_h, p->in_h, &oy0, &oy1);
    dw_inner(p->out_w, p->stride_w, p->pad_left, p->k_w, p->dil_w, p->in_w, &ox0, &ox1);
    if (p->k_h != 3 || p->k_w != 3) {
        oy1 = oy0; /* every pixel the general way */
    }
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int inner = oy >= oy0 && oy < oy1;
        const int32_t a = inner ? ox0 : p->out_w;
        for (int32_t ox = 0; ox < a; ox++) {
            dw_edge(p, &cx, in, stream, out, oy, ox);
        }
        if (!inner) {
            continue;
        }
        if (sat) {
            dw_inner_row(p, &cx, in, stream, out, oy, ox0, ox1, 1);
        } else {
            dw_inner_row(p, &cx, in, stream, out, oy, ox0, ox1, 0);
        }
        for (int32_t ox = ox1; ox < p->out_w; ox++) {
            dw_edge(p, &cx, in, stream, out, oy, ox);
        }
    }
}
