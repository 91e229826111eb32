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
 *
 * With Helium (MVE, MCUF_MVE), every 3x3 pixel of a group of four channels, interior or border,
 * runs in the int32 lanes of one vector (dw_unit3x3_mve4), requantisation included; pairs, single
 * channels and other filters keep the path above.
 */
#include <string.h>

#include "mcuf_internal.h"
#include "mcuf_kernels.h"

#if MCUF_MVE
#include <arm_mve.h>
#endif

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

/* ---- taps ---------------------------------------------------------------------------------------------
 * A unit is L = 4, 2 or 1 channels (a compile-time constant in every call): a[0..L-1] are their
 * accumulators, *w the stream at the unit's weight words (L = 4: two per tap, else one), advanced past
 * what is read. The asm statements read the input and the stream but declare no memory operands: this
 * kernel never writes either (mcuf_dwconv2d_fast_s8 orders every store before it with a compiler
 * barrier), so no store can be reordered with them. */

#if DW_ASM
/* four channels: bytes c..c+3 at ADDR, weights (c, c+2), (c+1, c+3) */
#define DW_ASM_TAP4(ADDR, ADDR1)                                                                    \
    "ldr     %[x], " ADDR "\n\t"                                                                    \
    "ldrd    %[w0], %[w1], [%[wp]], #8\n\t"                                                         \
    "sxtb16  %[e], %[x]\n\t"                                                                        \
    "sxtb16  %[x], %[x], ror #8\n\t"                                                                \
    "smlabb  %[a0], %[e], %[w0], %[a0]\n\t"                                                         \
    "smlatt  %[a2], %[e], %[w0], %[a2]\n\t"                                                         \
    "smlabb  %[a1], %[x], %[w1], %[a1]\n\t"                                                         \
    "smlatt  %[a3], %[x], %[w1], %[a3]\n\t"
/* two channels: byte c at ADDR (from p), c + 1 at ADDR1 (the same from q = p + 1); weights (c, c+1) */
#define DW_ASM_TAP2(ADDR, ADDR1)                                                                    \
    "ldrsb   %[x], " ADDR "\n\t"                                                                    \
    "ldrsb   %[e], " ADDR1 "\n\t"                                                                   \
    "ldr     %[w0], [%[wp]], #4\n\t"                                                                \
    "smlabb  %[a0], %[x], %[w0], %[a0]\n\t"                                                         \
    "smlabt  %[a1], %[e], %[w0], %[a1]\n\t"
#define DW_ASM_TAP1(ADDR, ADDR1)                                                                    \
    "ldrsb   %[x], " ADDR "\n\t"                                                                    \
    "ldr     %[w0], [%[wp]], #4\n\t"                                                                \
    "smlabb  %[a0], %[x], %[w0], %[a0]\n\t"
#define DW_ASM_ROW(TAP)                                                                             \
    TAP("[%[p]]", "[%[q]]") TAP("[%[p], %[col]]", "[%[q], %[col]]")                                 \
    TAP("[%[p], %[col], lsl #1]", "[%[q], %[col], lsl #1]")
#define DW_ASM_ROW2(TAP) TAP("[%[p]]", "[%[q]]") TAP("[%[p], %[col]]", "[%[q], %[col]]")
#define DW_ASM_ROW1(TAP) TAP("[%[p]]", "[%[q]]")
#define DW_ASM_NEXT_DW_ASM_TAP4 "add     %[p], %[p], %[row]\n\t"
#define DW_ASM_NEXT_DW_ASM_TAP2 "add     %[p], %[p], %[row]\n\tadd     %[q], %[q], %[row]\n\t"
#define DW_ASM_NEXT_DW_ASM_TAP1 "add     %[p], %[p], %[row]\n\t"
#define DW_ASM_OUT4                                                                                 \
    [a0] "+r"(a[0]), [a1] "+r"(a[1]), [a2] "+r"(a[2]), [a3] "+r"(a[3]), [p] "+r"(p),              \
        [wp] "+r"(wp), [x] "=&r"(xv), [e] "=&r"(e), [w0] "=&r"(w0), [w1] "=&r"(w1)
#define DW_ASM_OUT2                                                                                 \
    [a0] "+r"(a[0]), [a1] "+r"(a[1]), [p] "+r"(p), [q] "+r"(q), [wp] "+r"(wp), [x] "=&r"(xv),     \
        [e] "=&r"(e), [w0] "=&r"(w0)
#define DW_ASM_OUT1 [a0] "+r"(a[0]), [p] "+r"(p), [wp] "+r"(wp), [x] "=&r"(xv), [w0] "=&r"(w0)

/* One asm statement over the taps CODE(TAP) of a unit of L channels. */
#define DW_ASM_UNIT(L, CODE, ...)                                                                   \
    do {                                                                                            \
        const int8_t *p = x;                                                                        \
        const int8_t *q = x + 1;                                                                    \
        const int32_t *wp = *w;                                                                     \
        int32_t xv, e, w0, w1;                                                                      \
        (void)q;                                                                                    \
        (void)e;                                                                                    \
        (void)w1;                                                                                   \
        if ((L) == 4) {                                                                             \
            __asm__(CODE(DW_ASM_TAP4) : DW_ASM_OUT4 : __VA_ARGS__);                                \
        } else if ((L) == 2) {                                                                      \
            __asm__(CODE(DW_ASM_TAP2) : DW_ASM_OUT2 : __VA_ARGS__);                                \
        } else {                                                                                    \
            __asm__(CODE(DW_ASM_TAP1) : DW_ASM_OUT1 : __VA_ARGS__);                                \
        }                                                                                           \
        *w = wp;                                                                                    \
    } while (0)
#define DW_CODE3(TAP) DW_ASM_ROW(TAP)
#define DW_CODE2(TAP) DW_ASM_ROW2(TAP)
#define DW_CODE1(TAP) DW_ASM_ROW1(TAP)
#define DW_CODE9(TAP)                                                                               \
    DW_ASM_ROW(TAP) DW_ASM_NEXT_##TAP DW_ASM_ROW(TAP) DW_ASM_NEXT_##TAP DW_ASM_ROW(TAP)
#endif

/* One tap of a unit in C: v, the input bytes of its channels (from byte 0). */
DW_INLINE void dw_tap_c(int L, int32_t v, const int32_t **w, int32_t a[4])
{
    if (L == 4) {
        const int32_t e = dw_ext0(v);
        const int32_t o = dw_ext1(v);
        a[0] = dw_bb(e, (*w)[0], a[0]);
        a[2] = dw_tt(e, (*w)[0], a[2]);
        a[1] = dw_bb(o, (*w)[1], a[1]);
        a[3] = dw_tt(o, (*w)[1], a[3]);
        *w += 2;
    } else {
        a[0] = dw_bb(dw_ext0(v), **w, a[0]);
        if (L == 2) {
            a[1] = dw_bt(dw_ext1(v), **w, a[1]);
        }
        *w += 1;
    }
}

DW_INLINE int32_t dw_load(int L, const int8_t *x)
{
    return L == 4 ? dw_ld4(x) : L == 2 ? dw_ld2(x) : (int32_t)(uint8_t)*x;
}

/* n = 1, 2 or 3 (a constant) taps at x, x + col, x + 2 col. */
DW_INLINE void dw_taps(int L, const int8_t *x, int32_t col, int n, const int32_t **w, int32_t a[4])
{
#if DW_ASM
    if (n == 3) {
        DW_ASM_UNIT(L, DW_CODE3, [col] "r"(col));
    } else if (n == 2) {
        DW_ASM_UNIT(L, DW_CODE2, [col] "r"(col));
    } else {
        DW_ASM_UNIT(L, DW_CODE1, [col] "r"(col));
    }
#else
    for (int i = 0; i < n; i++) {
        dw_tap_c(L, dw_load(L, x + i * col), w, a);
    }
#endif
}

/* All nine taps of a 3x3 pixel whose tap (0, 0) is at x. */
DW_INLINE void dw_block3x3(int L, const int8_t *x, int32_t row, int32_t col, const int32_t **w,
                           int32_t a[4])
{
#if DW_ASM
    DW_ASM_UNIT(L, DW_CODE9, [col] "r"(col), [row] "r"(row));
#else
    dw_taps(L, x, col, 3, w, a);
    dw_taps(L, x + row, col, 3, w, a);
    dw_taps(L, x + 2 * row, col, 3, w, a);
#endif
}

/* n (a constant) taps in the padding; zp2 = (zp, zp), the input zero point in both lanes. */
DW_INLINE void dw_ztaps(int L, int32_t zp2, int n, const int32_t **w, int32_t a[4])
{
#if DW_ASM
    const int32_t *wp = *w;
    int32_t w0, w1;
#define DW_ASM_ZTAP4                                                                                \
    "ldrd    %[w0], %[w1], [%[wp]], #8\n\t"                                                         \
    "smlabb  %[a0], %[z], %[w0], %[a0]\n\t"                                                         \
    "smlatt  %[a2], %[z], %[w0], %[a2]\n\t"                                                         \
    "smlabb  %[a1], %[z], %[w1], %[a1]\n\t"                                                         \
    "smlatt  %[a3], %[z], %[w1], %[a3]\n\t"
#define DW_ASM_ZOUT4                                                                                \
    [a0] "+r"(a[0]), [a1] "+r"(a[1]), [a2] "+r"(a[2]), [a3] "+r"(a[3]), [wp] "+r"(wp),            \
        [w0] "=&r"(w0), [w1] "=&r"(w1)
    if (L == 4 && n == 3) {
        __asm__(DW_ASM_ZTAP4 DW_ASM_ZTAP4 DW_ASM_ZTAP4 : DW_ASM_ZOUT4 : [z] "r"(zp2));
    } else if (L == 4) {
        for (int i = 0; i < n; i++) {
            __asm__(DW_ASM_ZTAP4 : DW_ASM_ZOUT4 : [z] "r"(zp2));
        }
    } else {
        (void)w1;
        for (int i = 0; i < n; i++) {
            __asm__("ldr     %[w0], [%[wp]], #4\n\t"
                    "smlabb  %[a0], %[z], %[w0], %[a0]\n\t"
                    : [a0] "+r"(a[0]), [wp] "+r"(wp), [w0] "=&r"(w0)
                    : [z] "r"(zp2));
            if (L == 2) {
                __asm__("smlabt  %[a1], %[z], %[w0], %[a1]\n\t"
                        : [a1] "+r"(a[1])
                        : [z] "r"(zp2), [w0] "r"(w0));
            }
        }
    }
    *w = wp;
#else
    for (int i = 0; i < n; i++) {
        if (L == 4) {
            a[0] = dw_bb(zp2, (*w)[0], a[0]);
            a[2] = dw_tt(zp2, (*w)[0], a[2]);
            a[1] = dw_bb(zp2, (*w)[1], a[1]);
            a[3] = dw_tt(zp2, (*w)[1], a[3]);
            *w += 2;
        } else {
            a[0] = dw_bb(zp2, **w, a[0]);
            if (L == 2) {
                a[1] = dw_bt(zp2, **w, a[1]);
            }
            *w += 1;
        }
    }
#endif
}

/* The unit's outputs: a[j] becomes the output of a[j] with record j at *w ({m, K, r}; advanced past
 * the L records). sat: the clamp is int8's. */
DW_INLINE void dw_req(int L, int32_t a[4], const int32_t **w, const dw_ctx *cx, int sat)
{
#if DW_ASM
    const int32_t *wp = *w;
    int32_t m, k, r;
#define DW_ASM_REQ(J, CLAMP)                                                                        \
    "ldrd    %[m], %[k], [%[wp]], #8\n\t"                                                           \
    "ldr     %[r], [%[wp]], #4\n\t"                                                                 \
    "smmlar  %[m], %[a" J "], %[m], %[k]\n\t"                                                      \
    "add     %[m], %[m], %[a" J "], asr #31\n\t"                                                   \
    "asr     %[a" J "], %[m], %[r]\n\t" CLAMP(J)
#define DW_ASM_SAT(J) "ssat    %[a" J "], #8, %[a" J "]\n\t"
#define DW_ASM_CLAMP(J)                                                                             \
    "cmp     %[a" J "], %[lo]\n\t"                                                                  \
    "it      lt\n\t"                                                                                \
    "movlt   %[a" J "], %[lo]\n\t"                                                                  \
    "cmp     %[a" J "], %[hi]\n\t"                                                                  \
    "it      gt\n\t"                                                                                \
    "movgt   %[a" J "], %[hi]\n\t"
#define DW_ASM_REQ_TMP [wp] "+r"(wp), [m] "=&r"(m), [k] "=&r"(k), [r] "=&r"(r)
#define DW_ASM_REQS(CLAMP, N)                                                                       \
    DW_ASM_REQ("0", CLAMP) DW_ASM_REQ##N(CLAMP)
#define DW_ASM_REQ1(CLAMP) ""
#define DW_ASM_REQ2(CLAMP) DW_ASM_REQ("1", CLAMP)
#define DW_ASM_REQ4(CLAMP) DW_ASM_REQ("1", CLAMP) DW_ASM_REQ("2", CLAMP) DW_ASM_REQ("3", CLAMP)
#define DW_ASM_A4 [a0] "+r"(a[0]), [a1] "+r"(a[1]), [a2] "+r"(a[2]), [a3] "+r"(a[3]),
#define DW_ASM_A2 [a0] "+r"(a[0]), [a1] "+r"(a[1]),
#define DW_ASM_A1 [a0] "+r"(a[0]),
#define DW_ASM_LOHI [lo] "r"(cx->lo), [hi] "r"(cx->hi)
    if (L == 4 && sat) {
        __asm__(DW_ASM_REQS(DW_ASM_SAT, 4) : DW_ASM_A4 DW_ASM_REQ_TMP :);
    } else if (L == 4) {
        __asm__(DW_ASM_REQS(DW_ASM_CLAMP, 4) : DW_ASM_A4 DW_ASM_REQ_TMP : DW_ASM_LOHI : "cc");
    } else if (L == 2 && sat) {
        __asm__(DW_ASM_REQS(DW_ASM_SAT, 2) : DW_ASM_A2 DW_ASM_REQ_TMP :);
    } else if (L == 2) {
        __asm__(DW_ASM_REQS(DW_ASM_CLAMP, 2) : DW_ASM_A2 DW_ASM_REQ_TMP : DW_ASM_LOHI : "cc");
    } else if (sat) {
        __asm__(DW_ASM_REQS(DW_ASM_SAT, 1) : DW_ASM_A1 DW_ASM_REQ_TMP :);
    } else {
        __asm__(DW_ASM_REQS(DW_ASM_CLAMP, 1) : DW_ASM_A1 DW_ASM_REQ_TMP : DW_ASM_LOHI : "cc");
    }
    *w = wp;
#else
    a[0] = dw_out(a[0], *w, cx, sat);
    if (L >= 2) {
        a[1] = dw_out(a[1], *w + 3, cx, sat);
    }
    if (L == 4) {
        a[2] = dw_out(a[2], *w + 6, cx, sat);
        a[3] = dw_out(a[3], *w + 9, cx, sat);
    }
    *w += 3 * L;
#endif
}

/* The unit's biases into a, and its outputs out of a into dst (written out: -Os keeps loops). */
DW_INLINE void dw_bias(int L, const int32_t **w, int32_t a[4])
{
    const int32_t *b = *w;
    a[0] = b[0];
    if (L >= 2) {
        a[1] = b[1];
    }
    if (L == 4) {
        a[2] = b[2];
        a[3] = b[3];
    }
    *w += L;
}

DW_INLINE void dw_store(int L, const int32_t a[4], int8_t *dst)
{
    dst[0] = (int8_t)a[0];
    if (L >= 2) {
        dst[1] = (int8_t)a[1];
    }
    if (L == 4) {
        dst[2] = (int8_t)a[2];
        dst[3] = (int8_t)a[3];
    }
}

#if MCUF_MVE
/* Helium: a pixel of a 3x3 filter for a group of four channels (tap (0, 0) would be input element
 * i; rows, cols: its valid tap rows and columns as bits), the four accumulators in the int32 lanes
 * of one vector in channel order. Per tap: a contiguous widening byte load of the four input
 * channels (any alignment), or the zero point for a tap in the padding, a halfword gather of the
 * doubled weights (stored (c, c+2), (c+1, c+3)), VMUL and VADD: the products and sums of the
 * scalar path exactly. Then the same requantisation in lanes: VRMULH is SMMLAR's rounded high
 * half, the records {m, K, r} come by word gathers, VSHL by -r is the arithmetic right shift, and
 * VSTRB.32 stores the low bytes. The stream is int32 words: the gathers' alignment holds. */
DW_INLINE void dw_unit3x3_mve4(const dw_ctx *cx, const int8_t *in, int32_t i, uint32_t rows,
                               uint32_t cols, const int32_t *w, int8_t *dst, int sat)
{
    static const uint32_t wo[4] = {0, 2, 1, 3};
    static const uint32_t ro[4] = {0, 3, 6, 9};
    const uint32x4_t woff = vld1q_u32(wo);
    const int32x4_t zp = vdupq_n_s32((int32_t)(int8_t)(uint8_t)cx->zp4);
    int32x4_t acc = vld1q_s32(w);
    const int16_t *wh = (const int16_t *)(const void *)(w + 4);
    /* written out tap by tap: the compilers keep the 3x3 loops otherwise */
#define DW_MVE_TAP(KY, KX)                                                                          \
    do {                                                                                            \
        const int32x4_t xv = (((rows >> (KY)) & (cols >> (KX))) & 1u) != 0u                         \
                                 ? vldrbq_s32(in + (i + (KY) * cx->row + (KX) * cx->col))           \
                                 : zp;                                                              \
        acc = vaddq_s32(acc, vmulq_s32(xv, vldrhq_gather_shifted_offset_s32(wh, woff)));          \
        wh += 4;                                                                                    \
    } while (0)
    DW_MVE_TAP(0, 0);
    DW_MVE_TAP(0, 1);
    DW_MVE_TAP(0, 2);
    DW_MVE_TAP(1, 0);
    DW_MVE_TAP(1, 1);
    DW_MVE_TAP(1, 2);
    DW_MVE_TAP(2, 0);
    DW_MVE_TAP(2, 1);
    DW_MVE_TAP(2, 2);
#undef DW_MVE_TAP
    const int32_t *rq = w + 4 + 18;
    const uint32x4_t roff = vld1q_u32(ro);
    const int32x4_t m = vldrwq_gather_shifted_offset_s32(rq, roff);
    const int32x4_t k = vldrwq_gather_shifted_offset_s32(rq + 1, roff);
    const int32x4_t r = vldrwq_gather_shifted_offset_s32(rq + 2, roff);
    int32x4_t y = vaddq_s32(vaddq_s32(vrmulhq_s32(acc, m), k), vshrq_n_s32(acc, 31));
    y = vshlq_s32(y, vnegq_s32(r));
    y = vmaxq_s32(y, vdupq_n_s32(sat ? -128 : cx->lo));
    y = vminq_s32(y, vdupq_n_s32(sat ? 127 : cx->hi));
    vstrbq_s32(dst, y);
}
#endif

/* ---- one output pixel ------------------------------------------------------------------------------ */

/* Every unit of a pixel: groups of four channels, then a pair, then one. BODY(L) computes unit
 * (channels c.., L wide) from the stream w into a. */
#define DW_UNITS(BODY)                                                                              \
    do {                                                                                            \
        int32_t c = 0;                                                                              \
        for (; c + 3 < n; c += 4) {                                                                 \
            BODY(4);                                                                                \
        }                                                                                           \
        if (n - c >= 2) {                                                                           \
            BODY(2);                                                                                \
            c += 2;                                                                                 \
        }                                                                                           \
        if (c < n) {                                                                                \
            BODY(1);                                                                                \
        }                                                                                           \
    } while (0)

/* One row of a 3x3 border pixel's taps for a unit: its tap (row, 0) would be input element i (the
 * address is formed only for valid taps); columns cols (bits) valid. */
DW_INLINE void dw_row_edge(int L, const int8_t *in, int32_t i, int32_t col, uint32_t cols,
                           int32_t zp2, const int32_t **w, int32_t a[4])
{
    switch (cols) {
    case 7u:
        dw_taps(L, in + i, col, 3, w, a);
        break;
    case 6u:
        dw_ztaps(L, zp2, 1, w, a);
        dw_taps(L, in + (i + col), col, 2, w, a);
        break;
    case 3u:
        dw_taps(L, in + i, col, 2, w, a);
        dw_ztaps(L, zp2, 1, w, a);
        break;
    default:
        for (int32_t kx = 0; kx < 3; kx++) {
            if (((cols >> kx) & 1u) != 0u) {
                dw_taps(L, in + (i + kx * col), col, 1, w, a);
            } else {
                dw_ztaps(L, zp2, 1, w, a);
            }
        }
        break;
    }
}

/* A border pixel of a 3x3 filter: tap (0, 0) would be at in + i (formed only for valid taps); rows,
 * cols: its valid tap rows and columns as bits (cols a constant where the caller makes it one). */
DW_INLINE void dw_pixel_edge3x3(const dw_ctx *cx, const int8_t *in, int32_t i, uint32_t rows,
                                uint32_t cols, const int32_t *w, int32_t n, int8_t *dst, int sat)
{
    const int32_t zp2 = dw_ext0(cx->zp4);
#if MCUF_MVE
    int32_t c4 = 0;
    for (; c4 + 3 < n; c4 += 4) {
        dw_unit3x3_mve4(cx, in, i + c4, rows, cols, w, dst + c4, sat);
        w += 4 + 18 + 12;
    }
    in += c4;  /* the pair and the single channel after the groups, as from channel 0 */
    dst += c4;
    n -= c4;
#endif
#define DW_EDGE_ROW(L, KY)                                                                          \
    do {                                                                                            \
        if (((rows >> (KY)) & 1u) != 0u) {                                                          \
            dw_row_edge(L, in, i + c + (KY) * cx->row, cx->col, cols, zp2, &w, a);                \
        } else {                                                                                    \
            dw_ztaps(L, zp2, 3, &w, a);                                                             \
        }                                                                                           \
    } while (0)
#define DW_EDGE(L)                                                                                  \
    do {                                                                                            \
        int32_t a[4];                                                                               \
        dw_bias(L, &w, a);                                                                          \
        DW_EDGE_ROW(L, 0);                                                                          \
        DW_EDGE_ROW(L, 1);                                                                          \
        DW_EDGE_ROW(L, 2);                                                                          \
        dw_req(L, a, &w, cx, sat);                                                                  \
        dw_store(L, a, dst + c);                                                                    \
    } while (0)
    DW_UNITS(DW_EDGE);
#undef DW_EDGE
#undef DW_EDGE_ROW
}

/* Any pixel of any filter: tap (0, 0) would be at in + i. */
DW_INLINE void dw_pixel_any(const dw_ctx *cx, const int8_t *in, int32_t i, uint32_t rows,
                            uint32_t cols, const int32_t *w, int32_t n, int8_t *dst, int sat)
{
    const int32_t zp2 = dw_ext0(cx->zp4);
#define DW_ANY(L)                                                                                   \
    do {                                                                                            \
        int32_t a[4];                                                                               \
        dw_bias(L, &w, a);                                                                          \
        for (int32_t ky = 0; ky < cx->k_h; ky++) {                                                  \
            for (int32_t kx = 0; kx < cx->k_w; kx++) {                                              \
                if ((((rows >> ky) & (cols >> kx)) & 1u) != 0u) {                                   \
                    dw_taps(L, in + i + c + ky * cx->row + kx * cx->col, cx->col, 1, &w, a);        \
                } else {                                                                            \
                    dw_ztaps(L, zp2, 1, &w, a);                                                     \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
        dw_req(L, a, &w, cx, sat);                                                                  \
        dw_store(L, a, dst + c);                                                                    \
    } while (0)
    DW_UNITS(DW_ANY);
#undef DW_ANY
}

/* ---- geometry ------------------------------------------------------------------------------------ */

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

/* ---- output rows whose tap rows are all inside (3x3): unit by unit, pixel by pixel ---------------- */


/* One unit of one pixel: tap (0, 0) would be input element i; cols: its valid tap columns (7 for
 * an interior pixel). */
DW_INLINE void dw_unit3x3(int L, const dw_ctx *cx, const int8_t *in, int32_t i, uint32_t cols,
                          const int32_t *w, int8_t *dst, int sat)
{
#if MCUF_MVE
    if (L == 4) {
        dw_unit3x3_mve4(cx, in, i, 7u, cols, w, dst, sat);
        return;
    }
#endif
    int32_t a[4];
    dw_bias(L, &w, a);
    if (cols == 7u) {
        dw_block3x3(L, in + i, cx->row, cx->col, &w, a);
    } else {
        const int32_t zp2 = dw_ext0(cx->zp4);
        dw_row_edge(L, in, i, cx->col, cols, zp2, &w, a);
        dw_row_edge(L, in, i + cx->row, cx->col, cols, zp2, &w, a);
        dw_row_edge(L, in, i + 2 * cx->row, cx->col, cols, zp2, &w, a);
    }
    dw_req(L, a, &w, cx, sat);
    dw_store(L, a, dst);
}

#define DW_UNIT_ANY(L)                                                                              \
    __attribute__((noinline)) static void dw_unit3x3_any##L(const dw_ctx *cx, const int8_t *in,    \
                                                           int32_t i, uint32_t cols,                \
                                                           const int32_t *w, int8_t *dst, int sat)  \
    {                                                                                               \
        dw_unit3x3(L, cx, in, i, cols, w, dst, sat);                                                \
    }
DW_UNIT_ANY(4)
DW_UNIT_ANY(2)
DW_UNIT_ANY(1)

/* A border column pixel: the constant column masks of padding 1 inlined, others out of line. */
DW_INLINE void dw_unit3x3_edge(int L, const dw_ctx *cx, const int8_t *in, int32_t i, uint32_t cols,
                               const int32_t *w, int8_t *dst, int sat)
{
    if (cols == 6u) {
        dw_unit3x3(L, cx, in, i, 6u, w, dst, sat);
    } else if (cols == 3u) {
        dw_unit3x3(L, cx, in, i, 3u, w, dst, sat);
    } else if (L == 4) {
        dw_unit3x3_any4(cx, in, i, cols, w, dst, sat);
    } else if (L == 2) {
        dw_unit3x3_any2(cx, in, i, cols, w, dst, sat);
    } else {
        dw_unit3x3_any1(cx, in, i, cols, w, dst, sat);
    }
}

/* Geometry of the row loops. */
typedef struct {
    int32_t ox0, ox1;     /* output columns with every tap inside */
    int32_t step;         /* input elements between output columns */
    int32_t first;        /* input element of tap (0, 0) of column 0, relative to the row */
} dw_cols;

/* One unit (channels c.. at input element i_row + c of tap row 0, stream w) of an output row. */
DW_INLINE void dw_row_unit(int L, const mcuf_dwconv_params *p, const dw_ctx *cx, const dw_cols *g,
                           const int8_t *in, int32_t i_row, const int32_t *w, int8_t *drow, int sat)
{
    int32_t i = i_row + g->first;
    int8_t *d = drow;
    int32_t ox = 0;
    for (; ox < g->ox0; ox++, i += g->step, d += p->out_cs) {
        const uint32_t cols = dw_tap_bits(ox * p->stride_w - p->pad_left, p->dil_w, 3, p->in_w);
        dw_unit3x3_edge(L, cx, in, i, cols, w, d, sat);
    }
    for (; ox < g->ox1; ox++, i += g->step, d += p->out_cs) {
        dw_unit3x3(L, cx, in, i, 7u, w, d, sat);
    }
    for (; ox < p->out_w; ox++, i += g->step, d += p->out_cs) {
        const uint32_t cols = dw_tap_bits(ox * p->stride_w - p->pad_left, p->dil_w, 3, p->in_w);
        dw_unit3x3_edge(L, cx, in, i, cols, w, d, sat);
    }
}

/* Output row oy of a 3x3 filter whose tap rows are all inside. */
static void dw_row3x3(const mcuf_dwconv_params *p, const dw_ctx *cx, const dw_cols *g,
                      const int8_t *in, const int32_t *w, int8_t *out, int32_t oy, int sat)
{
    const int32_t n = p->in_c;
    const int32_t i_row = (oy * p->stride_h - p->pad_top) * p->in_w * p->in_cs;
    int8_t *drow = out + oy * p->out_w * p->out_cs;
    int32_t c = 0;
    for (; c + 3 < n; c += 4) {
        dw_row_unit(4, p, cx, g, in, i_row + c, w, drow + c, sat);
        w += 4 + 18 + 12;
    }
    if (n - c >= 2) {
        dw_row_unit(2, p, cx, g, in, i_row + c, w, drow + c, sat);
        w += 2 + 9 + 6;
        c += 2;
    }
    if (c < n) {
        dw_row_unit(1, p, cx, g, in, i_row + c, w, drow + c, sat);
    }
}

/* ---- the output map ---------------------------------------------------------------------------------- */

/* A border pixel, or any pixel of a filter other than 3x3, for any clamp (the rare cases: one copy). */
__attribute__((noinline)) static void dw_pixel_rare(const dw_ctx *cx, const int8_t *in, int32_t i,
                                                    uint32_t rows, uint32_t cols, const int32_t *w,
                                                    int32_t n, int8_t *dst, int sat)
{
    if (cx->k_h == 3 && cx->k_w == 3) {
        dw_pixel_edge3x3(cx, in, i, rows, cols, w, n, dst, sat);
    } else {
        dw_pixel_any(cx, in, i, rows, cols, w, n, dst, sat);
    }
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
    dw_pixel_rare(cx, in, i, rows, cols, w, p->in_c, dst, p->act_min == -128 && p->act_max == 127);
}

int32_t mcuf_dwconv_fast_words(int32_t n, int32_t k)
{
    return (n / 4) * (4 + 2 * k + 12) + ((n & 2) >> 1) * (2 + k + 6) + (n & 1) * (1 + k + 3);
}

void mcuf_dwconv2d_fast_s8(const mcuf_dwconv_params *p, const int8_t *in, const int32_t *stream,
                           int8_t *out)
{
#if DW_ASM
    __asm__ volatile("" ::: "memory"); /* every store before the call happens before the reads */
#endif
    const uint32_t zp = (uint8_t)(int8_t)(-p->in_offset);
    const dw_ctx cx = {
        .row = p->dil_h * p->in_w * p->in_cs, .col = p->dil_w * p->in_cs,
        .k_h = p->k_h, .k_w = p->k_w, .zp4 = (int32_t)(zp * 0x01010101u),
        .lo = p->act_min, .hi = p->act_max,
    };
    const int sat = p->act_min == -128 && p->act_max == 127;
    const int k3 = p->k_h == 3 && p->k_w == 3;
    dw_cols g;
    dw_inner(p->out_w, p->stride_w, p->pad_left, p->k_w, p->dil_w, p->in_w, &g.ox0, &g.ox1);
    g.step = p->stride_w * p->in_cs;
    g.first = -p->pad_left * p->in_cs;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const uint32_t rows = dw_tap_bits(oy * p->stride_h - p->pad_top, p->dil_h, p->k_h, p->in_h);
        if (k3 && rows == 7u) {
            dw_row3x3(p, &cx, &g, in, stream, out, oy, sat);
            continue;
        }
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            dw_edge(p, &cx, in, stream, out, oy, ox);
        }
    }
}
