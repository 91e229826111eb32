/*
 * Fast CONV_2D: im2col of two output pixels into q15 columns, then a 2x2 register-blocked matrix
 * product (two pixels x two output channels per pass, SMLAD on Cortex-M with the DSP extension).
 *
 * What the code generator prepares at compile time (generator/codegen/conv_fast.py):
 *  - the filter, re-laid out for the inner loop ("fast layout"): each output channel's
 *    K = k_h * k_w * in_c values, zero-padded to kp (a multiple of 4), are cut into groups of 4;
 *    output channels go in pairs, a pair storing group g of the even channel then group g of the
 *    odd one; an odd last channel stores its kp values plainly. Bytes packed into 32-bit words.
 *  - the input offset folded into the bias: bias_f[oc] = bias[oc] + in_offset * sum(filter[oc]).
 *    The columns hold the raw input, and taps in the padding hold the input zero point
 *    (-in_offset), so that (x + in_offset) = 0 for them: the sum equals the reference's sum over
 *    valid taps exactly, and the inner loop has no bounds checks.
 *
 * Column layout (cols, kp int32 words for two pixels of kp values each): group g of pixel s
 * (s = 0, 1) is two words at cols[4 g + 2 s]: the int16 pairs (x0, x2) and (x1, x3), which is
 * what SXTB16 and SXTB16 ROR #8 make of a filter word (b0 b1 b2 b3), so each SMLAD multiplies
 * matching taps. All products are at most 2^14 in magnitude, so SMLAD's sums are the portable
 * loop's exactly.
 *
 * With Helium (MVE, MCUF_MVE) there are no q15 columns: each pixel's window is copied as int8
 * bytes into the scratch (window_s8) and the product runs 16 taps per VMLADAVA.S8, the filter's
 * bytes taken from the same layout by byte gathers (dot_2x2_s8); a 1x1 stride-1 unpadded conv
 * reads its int8 pixels in place even where column scratch is granted.
 *
 * Without column scratch (cols NULL: the planner grants it only where it does not raise the
 * peak), a 1x1 stride-1 conv multiplies its int8 pixels in place; any other conv puts its columns
 * in the first output rows, computes the rows after them with them and the first rows last, tap by
 * tap (conv_s8_borrow).
 */
#include <string.h>

#include "mcuf_internal.h"
#include "mcuf_kernels.h"

#if MCUF_MVE
#include <arm_mve.h>
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mcuf_conv_fast.c: the fast filter layout assumes a little-endian target"
#endif

/* Attributes that keep -Os from out-of-lining the short helpers of the hot loops, and the two
 * forms of the channel loop apart (each gets the registers to itself). */
#if defined(__GNUC__)
#define MCUF_CF_INLINE inline __attribute__((always_inline))
#define MCUF_CF_NOINLINE __attribute__((noinline))
#else
#define MCUF_CF_INLINE inline
#define MCUF_CF_NOINLINE
#endif

/* ---- int8x4 -> two int16x2 words ------------------------------------------------------------ */

#if MCUF_SIMD
static inline int32_t sx_even(int32_t v)
{
    return __sxtb16(v);
}

static inline int32_t sx_odd(int32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline int32_t dot2(int32_t a, int32_t b, int32_t acc)
{
    return __smlad(a, b, acc);
}
#else
static inline int32_t pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)(uint16_t)(int16_t)lo) | ((uint32_t)(uint16_t)(int16_t)hi << 16));
}

static inline int32_t byte_at(int32_t v, int32_t i)
{
    return (int32_t)(int8_t)(uint8_t)((uint32_t)v >> (8 * i));
}

static inline int32_t sx_even(int32_t v)
{
    return pack16(byte_at(v, 0), byte_at(v, 2));
}

static inline int32_t sx_odd(int32_t v)
{
    return pack16(byte_at(v, 1), byte_at(v, 3));
}

static inline int32_t dot2(int32_t a, int32_t b, int32_t acc)
{
    int32_t a_lo = (int16_t)(uint16_t)((uint32_t)a & 0xFFFFu);
    int32_t a_hi = (int16_t)(uint16_t)((uint32_t)a >> 16);
    int32_t b_lo = (int16_t)(uint16_t)((uint32_t)b & 0xFFFFu);
    int32_t b_hi = (int16_t)(uint16_t)((uint32_t)b >> 16);
    return acc + a_lo * b_lo + a_hi * b_hi;
}
#endif

/* ---- what one call needs, computed once ------------------------------------------------------- */

enum { COLS_DIRECT, COLS_ROWS, COLS_STAGED };

typedef struct {
    const mcuf_conv_params *p;
    const int8_t *in;
    int32_t k;          /* k_h * k_w * in_c */
    int32_t groups;     /* ceil(k / 4) */
    int32_t mode;       /* how a window inside the input is read */
    int32_t row_n;      /* k_w * in_c: bytes of one filter row */
    int32_t pitch;      /* input bytes between two filter rows */
    uint32_t zp;        /* the input zero point in every byte */
    int32_t *cols;
    int8_t *stage;      /* one pixel's K bytes, after the columns */
} conv_plan;

static conv_plan plan_of(const mcuf_conv_params *p, const int8_t *in, int32_t *cols)
{
    conv_plan c;
    c.p = p;
    c.in = in;
    c.k = p->k_h * p->k_w * p->in_c;
    c.groups = (c.k + 3) / 4;
    c.row_n = p->k_w * p->in_c;
    c.pitch = p->dil_h * p->in_w * p->in_cs;
    c.zp = (uint32_t)(uint8_t)(int8_t)(-p->in_offset) * 0x01010101u;
    c.cols = cols;
    c.stage = (int8_t *)(void *)(cols + 4 * c.groups);
    const int dense = p->dil_w == 1 && p->in_cs == p->in_c;
    const int one = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
                    p->pad_top == 0 && p->pad_left == 0 && p->out_w == p->in_w;
    c.mode = one ? COLS_DIRECT : dense && (c.row_n & 3) == 0 ? COLS_ROWS : COLS_STAGED;
    return c;
}

/* ---- im2col ------------------------------------------------------------------------------------ */

/* g whole groups of src (any alignment) into pixel columns at dst (4 words per group). */
static MCUF_CF_INLINE int32_t *expand_groups(const int8_t *src, int32_t g, int32_t *dst)
{
    for (int32_t i = 0; i < g; i++) {
        int32_t v;
        memcpy(&v, src + 4 * i, sizeof v);
        dst[0] = sx_even(v);
        dst[1] = sx_odd(v);
        dst += 4;
    }
    return dst;
}

/* The first k bytes of src as pixel columns at dst, the last group padded with zeros. */
static void expand(const int8_t *src, int32_t k, int32_t *dst)
{
    dst = expand_groups(src, k / 4, dst);
    const int32_t tail = k & 3;
    if (tail != 0) {
        src += k - tail;
        uint32_t v = (uint8_t)src[0];
        if (tail > 1) {
            v |= (uint32_t)(uint8_t)src[1] << 8;
        }
        if (tail > 2) {
            v |= (uint32_t)(uint8_t)src[2] << 16;
        }
        dst[0] = sx_even((int32_t)v);
        dst[1] = sx_odd((int32_t)v);
    }
}

/* n bytes from src to dst (both may be unaligned): words, then a half-word and a byte. Written
 * out so that the compiler does not turn these short runs into memcpy / memset calls. */
static MCUF_CF_INLINE int8_t *copy_run(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t v;
        memcpy(&v, src + i, sizeof v);
        memcpy(dst + i, &v, sizeof v);
    }
    if ((n & 2) != 0) {
        uint16_t h;
        memcpy(&h, src + i, sizeof h);
        memcpy(dst + i, &h, sizeof h);
        i += 2;
    }
    if ((n & 1) != 0) {
        dst[i] = src[i];
    }
    return dst + n;
}

/* n copies of the byte whose copies make up the word pattern. */
static MCUF_CF_INLINE int8_t *fill_run(int8_t *dst, uint32_t pattern, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        memcpy(dst + i, &pattern, sizeof pattern);
    }
    if ((n & 2) != 0) {
        const uint16_t h = (uint16_t)pattern;
        memcpy(dst + i, &h, sizeof h);
        i += 2;
    }
    if ((n & 1) != 0) {
        dst[i] = (int8_t)(uint8_t)pattern;
    }
    return dst + n;
}

/* The window at input (y0, x0) with padding: K bytes into d, padded taps reading the zero
 * point. */
static void gather(const conv_plan *c, int32_t y0, int32_t x0, int8_t *d)
{
    const mcuf_conv_params *p = c->p;
    const int32_t ch = p->in_c;
    int32_t kx_lo;
    int32_t kx_hi;
    mcuf_tap_range(x0, p->dil_w, p->k_w, p->in_w, &kx_lo, &kx_hi);
    const int dense = p->dil_w == 1 && p->in_cs == ch;
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = y0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            d = fill_run(d, c->zp, c->row_n);
            continue;
        }
        const int8_t *row = c->in + iy * p->in_w * p->in_cs;
        d = fill_run(d, c->zp, kx_lo * ch);
        if (dense) {
            d = copy_run(d, row + (x0 + kx_lo) * ch, (kx_hi - kx_lo) * ch);
        } else {
            for (int32_t kx = kx_lo; kx < kx_hi; kx++) {
                d = copy_run(d, row + (x0 + kx * p->dil_w) * p->in_cs, ch);
            }
        }
        d = fill_run(d, c->zp, (p->k_w - kx_hi) * ch);
    }
}

/* COLS_ROWS: dense filter rows of whole groups, expanded row by row. Rows in the top or bottom
 * padding are the zero point's words; a row cut by the left or right padding is assembled in
 * the stage first. */
static void rows_im2col(const conv_plan *c, int32_t y0, int32_t x0, int inside, int32_t *dst)
{
    const mcuf_conv_params *p = c->p;
    const int32_t g = c->row_n / 4;
    const int8_t *row = c->in + (y0 * p->in_w + x0) * p->in_cs;
    if (inside && g == 1) {  /* e.g. a 10x4 filter over one channel (DS-CNN's first conv) */
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            int32_t v;
            memcpy(&v, row, sizeof v);
            dst[0] = sx_even(v);
            dst[1] = sx_odd(v);
            dst += 4;
            row += c->pitch;
        }
        return;
    }
    if (inside) {
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            dst = expand_groups(row, g, dst);
            row += c->pitch;
        }
        return;
    }
    const int32_t ch = p->in_c;
    int32_t kx_lo;
    int32_t kx_hi;
    mcuf_tap_range(x0, 1, p->k_w, p->in_w, &kx_lo, &kx_hi);
    const int32_t zp_even = sx_even((int32_t)c->zp);
    const int32_t zp_odd = sx_odd((int32_t)c->zp);
    for (int32_t ky = 0; ky < p->k_h; ky++, row += c->pitch) {
        const int32_t iy = y0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            for (int32_t i = 0; i < g; i++) {
                dst[0] = zp_even;
                dst[1] = zp_odd;
                dst += 4;
            }
        } else if (kx_lo == 0 && kx_hi == p->k_w) {
            dst = expand_groups(row, g, dst);
        } else {
            int8_t *d = fill_run(c->stage, c->zp, kx_lo * ch);
            d = copy_run(d, row + kx_lo * ch, (kx_hi - kx_lo) * ch);
            fill_run(d, c->zp, (p->k_w - kx_hi) * ch);
            dst = expand_groups(c->stage, g, dst);
        }
    }
}

/* Pixel s of the column pair: output pixel n. A 1x1, stride-1, unpadded conv expands its input
 * pixel in place; a window inside the input with dense rows of whole groups is expanded row by
 * row; anything else is gathered into the stage first. */
static void im2col(const conv_plan *c, int32_t n, int32_t s)
{
    const mcuf_conv_params *p = c->p;
    int32_t *dst = c->cols + 2 * s;
    if (c->mode == COLS_DIRECT) {
        expand(c->in + n * p->in_cs, c->k, dst);
        return;
    }
    const int32_t oy = n / p->out_w;
    const int32_t y0 = oy * p->stride_h - p->pad_top;
    const int32_t x0 = (n - oy * p->out_w) * p->stride_w - p->pad_left;
    const int inside = y0 >= 0 && y0 + (p->k_h - 1) * p->dil_h < p->in_h && x0 >= 0 &&
                       x0 + (p->k_w - 1) * p->dil_w < p->in_w;
    if (c->mode == COLS_ROWS) {
        rows_im2col(c, y0, x0, inside, dst);
        return;
    }
    if (inside && p->dil_w == 1 && p->in_cs == p->in_c) {
        const int8_t *row = c->in + (y0 * p->in_w + x0) * p->in_cs;
        int8_t *d = c->stage;
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            d = copy_run(d, row, c->row_n);
            row += c->pitch;
        }
    } else {
        gather(c, y0, x0, c->stage);
    }
    expand(c->stage, c->k, dst);
}

#if MCUF_MVE
/* Helium: output pixel n's window as K int8 bytes at dst (no q15 columns: the 16-lane product
 * of the direct form reads them as it reads a 1x1 conv's pixels). */
static void window_s8(const conv_plan *c, int32_t n, int8_t *dst)
{
    const mcuf_conv_params *p = c->p;
    const int32_t oy = n / p->out_w;
    const int32_t y0 = oy * p->stride_h - p->pad_top;
    const int32_t x0 = (n - oy * p->out_w) * p->stride_w - p->pad_left;
    const int inside = y0 >= 0 && y0 + (p->k_h - 1) * p->dil_h < p->in_h && x0 >= 0 &&
                       x0 + (p->k_w - 1) * p->dil_w < p->in_w;
    if (inside && p->dil_w == 1 && p->in_cs == p->in_c) {
        const int8_t *row = c->in + (y0 * p->in_w + x0) * p->in_cs;
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            dst = copy_run(dst, row, c->row_n);
            row += c->pitch;
        }
    } else {
        gather(c, y0, x0, dst);
    }
}
#endif

/* ---- the blocked product ---------------------------------------------------------------------- */

/* Sums of two pixels (the columns) x two output channels (pair words w) over g groups, added to
 * s00 (pixel 0, channel 0), s01, s10, s11. */
#if MCUF_SIMD && defined(__GNUC__)
/* 17 instructions per 16 multiply-accumulates: three LDRD (filter pair, pixel 0, pixel 1), four
 * SXTB16, eight SMLAD and the loop test, in 13 registers. */
#define DOT_2X2(CP, WP, NG, S00, S01, S10, S11)                                                  \
    do {                                                                                          \
        const int32_t *dc_ = (CP);                                                                \
        const int32_t *dw_ = (WP);                                                                \
        const int32_t *de_ = dw_ + 2 * (NG);                                                      \
        int32_t w0_, w1_, e0_, e1_, x0_, x1_;                                                     \
        __asm__ volatile("1:\n\t"                                                                 \
                         "ldrd   %[w0], %[w1], [%[w]], #8\n\t"                                    \
                         "ldrd   %[x0], %[x1], [%[c]], #8\n\t"                                    \
                         "sxtb16 %[e0], %[w0]\n\t"                                                \
                         "sxtb16 %[w0], %[w0], ror #8\n\t"                                        \
                         "sxtb16 %[e1], %[w1]\n\t"                                                \
                         "sxtb16 %[w1], %[w1], ror #8\n\t"                                        \
                         "smlad  %[s00], %[x0], %[e0], %[s00]\n\t"                                \
                         "smlad  %[s01], %[x0], %[e1], %[s01]\n\t"                                \
                         "smlad  %[s00], %[x1], %[w0], %[s00]\n\t"                                \
                         "smlad  %[s01], %[x1], %[w1], %[s01]\n\t"                                \
                         "ldrd   %[x0], %[x1], [%[c]], #8\n\t"                                    \
                         "smlad  %[s10], %[x0], %[e0], %[s10]\n\t"                                \
                         "smlad  %[s11], %[x0], %[e1], %[s11]\n\t"                                \
                         "smlad  %[s10], %[x1], %[w0], %[s10]\n\t"                                \
                         "smlad  %[s11], %[x1], %[w1], %[s11]\n\t"                                \
                         "cmp    %[w], %[end]\n\t"                                                \
                         "bne    1b\n\t"                                                          \
                         : [s00] "+r"(S00), [s01] "+r"(S01), [s10] "+r"(S10), [s11] "+r"(S11),   \
                           [c] "+r"(dc_), [w] "+r"(dw_), [w0] "=&r"(w0_), [w1] "=&r"(w1_),       \
                           [e0] "=&r"(e0_), [e1] "=&r"(e1_), [x0] "=&r"(x0_), [x1] "=&r"(x1_)   \
                         : [end] "r"(de_)                                                         \
                         : "cc", "memory");                                                       \
    } while (0)
#else
#define DOT_2X2(c, w, g, s00, s01, s10, s11) dot_2x2((c), (w), (g), &(s00), &(s01), &(s10), &(s11))

static MCUF_CF_INLINE void dot_2x2(const int32_t *c, const int32_t *w, int32_t g, int32_t *s00,
                                   int32_t *s01, int32_t *s10, int32_t *s11)
{
    int32_t a00 = *s00;
    int32_t a01 = *s01;
    int32_t a10 = *s10;
    int32_t a11 = *s11;
    for (int32_t i = 0; i < g; i++) {
        const int32_t e0 = sx_even(w[0]);
        const int32_t o0 = sx_odd(w[0]);
        const int32_t e1 = sx_even(w[1]);
        const int32_t o1 = sx_odd(w[1]);
        a00 = dot2(c[1], o0, dot2(c[0], e0, a00));
        a01 = dot2(c[1], o1, dot2(c[0], e1, a01));
        a10 = dot2(c[3], o0, dot2(c[2], e0, a10));
        a11 = dot2(c[3], o1, dot2(c[2], e1, a11));
        c += 4;
        w += 2;
    }
    *s00 = a00;
    *s01 = a01;
    *s10 = a10;
    *s11 = a11;
}
#endif

/* Two pixels x one output channel (plain row words w), added to s0 and s1. */
static void dot_2x1(const int32_t *c, const int32_t *w, int32_t g, int32_t *s0, int32_t *s1)
{
    int32_t a0 = *s0;
    int32_t a1 = *s1;
    for (int32_t i = 0; i < g; i++) {
        const int32_t e = sx_even(w[i]);
        const int32_t o = sx_odd(w[i]);
        a0 = dot2(c[1], o, dot2(c[0], e, a0));
        a1 = dot2(c[3], o, dot2(c[2], e, a1));
        c += 4;
    }
    *s0 = a0;
    *s1 = a1;
}

/* The same products with the two pixels read in place as int8 (a 1x1 conv run without column
 * scratch): pa, pb point at the pixels' first channel, gf whole groups, tail = in_c % 4 values
 * after them. */
static MCUF_CF_INLINE int32_t tail_word(const int8_t *x, int32_t tail)
{
    uint32_t v = (uint8_t)x[0];
    if (tail > 1) {
        v |= (uint32_t)(uint8_t)x[1] << 8;
    }
    if (tail > 2) {
        v |= (uint32_t)(uint8_t)x[2] << 16;
    }
    return (int32_t)v;
}

static MCUF_CF_INLINE int32_t load_word(const int8_t *x)
{
    int32_t v;
    memcpy(&v, x, sizeof v);
    return v;
}

/* One group: pixel words xa, xb; filter words w0 (channel 0), w1 (channel 1). */
static MCUF_CF_INLINE void group_2x2(int32_t xa, int32_t xb, int32_t w0, int32_t w1, int32_t *s00,
                                     int32_t *s01, int32_t *s10, int32_t *s11)
{
    const int32_t e0 = sx_even(w0);
    const int32_t o0 = sx_odd(w0);
    const int32_t e1 = sx_even(w1);
    const int32_t o1 = sx_odd(w1);
    const int32_t ae = sx_even(xa);
    const int32_t ao = sx_odd(xa);
    const int32_t be = sx_even(xb);
    const int32_t bo = sx_odd(xb);
    *s00 = dot2(ao, o0, dot2(ae, e0, *s00));
    *s01 = dot2(ao, o1, dot2(ae, e1, *s01));
    *s10 = dot2(bo, o0, dot2(be, e0, *s10));
    *s11 = dot2(bo, o1, dot2(be, e1, *s11));
}

static MCUF_CF_INLINE void dot_2x2_s8(const int8_t *pa, const int8_t *pb, const int32_t *w,
                                      int32_t gf, int32_t tail, int32_t *s00, int32_t *s01,
                                      int32_t *s10, int32_t *s11)
{
    int32_t a00 = *s00;
    int32_t a01 = *s01;
    int32_t a10 = *s10;
    int32_t a11 = *s11;
#if MCUF_MVE
    /* Helium: 16 taps per pass. Contiguous byte loads of each pixel (any alignment); byte gathers
     * of each channel's 16 values from the pair words (channel 0 at 8 g + j, channel 1 at
     * 8 g + 4 + j for tap 4 g + j); VMLADAVA.S8 adds 16 products to a sum. The last pass is
     * predicated to the k taps left (the predicated-off lanes read nothing and load zero). */
    {
        const uint8x16_t idx = vidupq_n_u8(0, 1);
        const uint8x16_t off0 = vaddq_u8(idx, vandq_u8(idx, vdupq_n_u8(12)));
        const uint8x16_t off1 = vaddq_n_u8(off0, 4);
        const int8_t *wb = (const int8_t *)(const void *)w;
        int32_t n = 4 * gf + tail;
        for (; n >= 16; n -= 16) {
            const int8x16_t xa = vldrbq_s8(pa);
            const int8x16_t xb = vldrbq_s8(pb);
            const int8x16_t w0 = vldrbq_gather_offset_s8(wb, off0);
            const int8x16_t w1 = vldrbq_gather_offset_s8(wb, off1);
            a00 = vmladavaq_s8(a00, xa, w0);
            a01 = vmladavaq_s8(a01, xa, w1);
            a10 = vmladavaq_s8(a10, xb, w0);
            a11 = vmladavaq_s8(a11, xb, w1);
            pa += 16;
            pb += 16;
            wb += 32;
        }
        if (n > 0) {
            const mve_pred16_t pr = vctp8q((uint32_t)n);
            const int8x16_t xa = vldrbq_z_s8(pa, pr);
            const int8x16_t xb = vldrbq_z_s8(pb, pr);
            const int8x16_t w0 = vldrbq_gather_offset_z_s8(wb, off0, pr);
            const int8x16_t w1 = vldrbq_gather_offset_z_s8(wb, off1, pr);
            a00 = vmladavaq_s8(a00, xa, w0);
            a01 = vmladavaq_s8(a01, xa, w1);
            a10 = vmladavaq_s8(a10, xb, w0);
            a11 = vmladavaq_s8(a11, xb, w1);
        }
        tail = 0;
    }
#elif MCUF_SIMD && defined(__GNUC__)
    /* 22 instructions per 16 multiply-accumulates in 13 registers (the loop's end is read from
     * memory into a register free at that point), so that the frame pointer may stay reserved. */
    if (gf > 0) {
        const int32_t *end = w + 2 * gf;
        int32_t w0, w1, e0, e1, x, y;
        __asm__ volatile("1:\n\t"
                         "ldrd   %[w0], %[w1], [%[w]], #8\n\t"
                         "sxtb16 %[e0], %[w0]\n\t"
                         "sxtb16 %[w0], %[w0], ror #8\n\t"
                         "sxtb16 %[e1], %[w1]\n\t"
                         "sxtb16 %[w1], %[w1], ror #8\n\t"
                         "ldr    %[x], [%[pa]], #4\n\t"
                         "sxtb16 %[y], %[x]\n\t"
                         "sxtb16 %[x], %[x], ror #8\n\t"
                         "smlad  %[s00], %[y], %[e0], %[s00]\n\t"
                         "smlad  %[s01], %[y], %[e1], %[s01]\n\t"
                         "smlad  %[s00], %[x], %[w0], %[s00]\n\t"
                         "smlad  %[s01], %[x], %[w1], %[s01]\n\t"
                         "ldr    %[x], [%[pb]], #4\n\t"
                         "sxtb16 %[y], %[x]\n\t"
                         "sxtb16 %[x], %[x], ror #8\n\t"
                         "smlad  %[s10], %[y], %[e0], %[s10]\n\t"
                         "smlad  %[s11], %[y], %[e1], %[s11]\n\t"
                         "smlad  %[s10], %[x], %[w0], %[s10]\n\t"
                         "smlad  %[s11], %[x], %[w1], %[s11]\n\t"
                         "ldr    %[x], %[end]\n\t"
                         "cmp    %[w], %[x]\n\t"
                         "bne    1b\n\t"
                         : [s00] "+r"(a00), [s01] "+r"(a01), [s10] "+r"(a10), [s11] "+r"(a11),
                           [pa] "+r"(pa), [pb] "+r"(pb), [w] "+r"(w), [w0] "=&r"(w0),
                           [w1] "=&r"(w1), [e0] "=&r"(e0), [e1] "=&r"(e1), [x] "=&r"(x),
                           [y] "=&r"(y)
                         : [end] "m"(end)
                         : "cc", "memory");
    }
#else
    for (int32_t i = 0; i < gf; i++) {
        group_2x2(load_word(pa), load_word(pb), w[0], w[1], &a00, &a01, &a10, &a11);
        pa += 4;
        pb += 4;
        w += 2;
    }
#endif
    if (tail != 0) {
        group_2x2(tail_word(pa, tail), tail_word(pb, tail), w[0], w[1], &a00, &a01, &a10, &a11);
    }
    *s00 = a00;
    *s01 = a01;
    *s10 = a10;
    *s11 = a11;
}

static void dot_2x1_s8(const int8_t *pa, const int8_t *pb, const int32_t *w, int32_t gf,
                       int32_t tail, int32_t *s0, int32_t *s1)
{
    int32_t a0 = *s0;
    int32_t a1 = *s1;
    for (int32_t i = 0; i <= gf; i++) {
        if (i == gf && tail == 0) {
            break;
        }
        const int32_t xa = i < gf ? load_word(pa + 4 * i) : tail_word(pa + 4 * i, tail);
        const int32_t xb = i < gf ? load_word(pb + 4 * i) : tail_word(pb + 4 * i, tail);
        const int32_t e = sx_even(w[i]);
        const int32_t o = sx_odd(w[i]);
        a0 = dot2(sx_odd(xa), o, dot2(sx_even(xa), e, a0));
        a1 = dot2(sx_odd(xb), o, dot2(sx_even(xb), e, a1));
    }
    *s0 = a0;
    *s1 = a1;
}

/* Where a pixel pair's values come from: q15 columns, or (cols == NULL) the int8 pixels pa, pb. */
typedef struct {
    const int32_t *cols;
    const int8_t *pa, *pb;
} pair_src;

static MCUF_CF_INLINE void sums_2x2(const conv_plan *c, const pair_src *x, const int32_t *w,
                                    int direct, int32_t *s00, int32_t *s01, int32_t *s10,
                                    int32_t *s11)
{
    if (direct) {
        dot_2x2_s8(x->pa, x->pb, w, c->k / 4, c->k & 3, s00, s01, s10, s11);
        return;
    }
    int32_t a00 = *s00, a01 = *s01, a10 = *s10, a11 = *s11;
    DOT_2X2(x->cols, w, c->groups, a00, a01, a10, a11);
    *s00 = a00;
    *s01 = a01;
    *s10 = a10;
    *s11 = a11;
}

static MCUF_CF_INLINE void sums_2x1(const conv_plan *c, const pair_src *x, const int32_t *w,
                                    int direct, int32_t *s0, int32_t *s1)
{
    if (direct) {
        dot_2x1_s8(x->pa, x->pb, w, c->k / 4, c->k & 3, s0, s1);
    } else {
        dot_2x1(x->cols, w, c->groups, s0, s1);
    }
}

/* ---- requantisation --------------------------------------------------------------------------- */

/* Per output channel the code generator stores {multiplier, ctl} (conv_fast.requant_records):
 * ctl = right | left << 8 | RQ_FAST, TFLite's shift split into its left and right parts. */
#define RQ_FAST (1 << 16)

typedef struct {
    int32_t out_offset, act_min, act_max;
} out_stage;

/* The output offset and clamp; full: the clamp is int8's own range (no fused activation, or one
 * whose range covers it), one SSAT on Cortex-M. */
static MCUF_CF_INLINE int8_t clamp_s8(const out_stage *o, int32_t v, int full)
{
    v += o->out_offset;
    if (full) {
#if MCUF_SIMD
        return (int8_t)__ssat(v, 8);
#else
        v = v < -128 ? -128 : v;
        return (int8_t)(v > 127 ? 127 : v);
#endif
    }
    v = v < o->act_min ? o->act_min : v;
    v = v > o->act_max ? o->act_max : v;
    return (int8_t)v;
}

/* MultiplyByQuantizedMultiplier (mcuf_mul_by_qm) as TFLite computes it: the multiplier is
 * positive, so the doubling high multiply never saturates and its round-half-away-from-zero
 * division by 2^31 is (ab + 2^30) >> 31 with an arithmetic shift. */
static MCUF_CF_INLINE int32_t rq_exact(int32_t x, int32_t mult, int32_t ctl)
{
    const int32_t right = ctl & 0xFF;
    const int32_t left = (ctl >> 8) & 0xFF;
    const int64_t ab = (int64_t)(int32_t)((uint32_t)x << left) * mult;
    const int32_t hi = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    const int32_t threshold = (mask >> 1) + (int32_t)((uint32_t)hi >> 31);
    return (hi >> right) + ((hi & mask) > threshold ? 1 : 0);
}

static MCUF_CF_INLINE int32_t smmulr(int32_t a, int32_t b)
{
#if MCUF_SIMD && defined(__GNUC__)
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* The same for a RQ_FAST channel, where x << (left + 2) fits in int32 and right >= 1: then the
 * doubling high multiply is SMMULR(x << (left + 1), m), and TFLite's rounding shift is
 * (hi + 2^(right-1) - (hi < 0)) >> right without overflow. */
static MCUF_CF_INLINE int32_t rq_fast(int32_t x, int32_t mult, int32_t pre, int32_t nudge,
                                      int32_t right)
{
    const int32_t hi = smmulr((int32_t)((uint32_t)x << pre), mult);
    return (hi + nudge - (int32_t)((uint32_t)hi >> 31)) >> right;
}

/* Requantised outputs of a channel pair: s00, s01 to out0[0], out0[1]; s10, s11 to out1[0],
 * out1[1] (out1 first: out1 == out0 means one pixel, whose sums are s00, s01). */
static MCUF_CF_INLINE void store_pair(const out_stage *o, const int32_t *rq, int32_t s00,
                                      int32_t s01, int32_t s10, int32_t s11, int8_t *out0,
                                      int8_t *out1, int full)
{
    const int32_t m0 = rq[0];
    const int32_t c0 = rq[1];
    const int32_t m1 = rq[2];
    const int32_t c1 = rq[3];
    if ((c0 & c1 & RQ_FAST) != 0) {
        const int32_t r0 = c0 & 0xFF;
        const int32_t r1 = c1 & 0xFF;
        const int32_t p0 = ((c0 >> 8) & 0xFF) + 1;
        const int32_t p1 = ((c1 >> 8) & 0xFF) + 1;
        const int32_t n0 = (int32_t)(1u << (r0 - 1));
        const int32_t n1 = (int32_t)(1u << (r1 - 1));
        out1[0] = clamp_s8(o, rq_fast(s10, m0, p0, n0, r0), full);
        out1[1] = clamp_s8(o, rq_fast(s11, m1, p1, n1, r1), full);
        out0[0] = clamp_s8(o, rq_fast(s00, m0, p0, n0, r0), full);
        out0[1] = clamp_s8(o, rq_fast(s01, m1, p1, n1, r1), full);
        return;
    }
    out1[0] = clamp_s8(o, rq_exact(s10, m0, c0), full);
    out1[1] = clamp_s8(o, rq_exact(s11, m1, c1), full);
    out0[0] = clamp_s8(o, rq_exact(s00, m0, c0), full);
    out0[1] = clamp_s8(o, rq_exact(s01, m1, c1), full);
}

/* ---- the two output forms ---------------------------------------------------------------------- */

/* All output channels of the pixel pair, requantised into out0 and out1 (equal: one pixel).
 * full (see clamp_s8) and direct (see pair_src) are constants where this is inlined, so each form
 * is compiled on its own. */
static MCUF_CF_INLINE void channels_s8(const conv_plan *c, const pair_src *x, const int32_t *wf,
                                       const int32_t *bias_f, const int32_t *rq, int8_t *out0,
                                       int8_t *out1, int full, int direct)
{
    const mcuf_conv_params *p = c->p;
    const int32_t g = c->groups;
    const int32_t oc_n = p->out_c;
    const out_stage o = {p->out_offset, p->act_min, p->act_max};
    int32_t oc = 0;
    for (; oc + 1 < oc_n; oc += 2) {
        int32_t s00 = bias_f[oc];
        int32_t s01 = bias_f[oc + 1];
        int32_t s10 = s00;
        int32_t s11 = s01;
        sums_2x2(c, x, wf, direct, &s00, &s01, &s10, &s11);
        wf += 2 * g;
        store_pair(&o, rq + 2 * oc, s00, s01, s10, s11, out0 + oc, out1 + oc, full);
    }
    if (oc < oc_n) {
        int32_t s0 = bias_f[oc];
        int32_t s1 = s0;
        sums_2x1(c, x, wf, direct, &s0, &s1);
        const int32_t m = rq[2 * oc];
        const int32_t ctl = rq[2 * oc + 1];
        out1[oc] = clamp_s8(&o, rq_exact(s1, m, ctl), full);
        out0[oc] = clamp_s8(&o, rq_exact(s0, m, ctl), full);
    }
}

/* All output channels of the pixel pair added into the int32 sums acc0 and acc1 (equal: one
 * pixel, added once). */
static MCUF_CF_INLINE void channels_s32(const conv_plan *c, const pair_src *x, const int32_t *wf,
                                        int32_t *acc0, int32_t *acc1, int direct)
{
    const int32_t g = c->groups;
    const int32_t oc_n = c->p->out_c;
    const int two = acc1 != acc0;
    int32_t oc = 0;
    for (; oc + 1 < oc_n; oc += 2) {
        int32_t s00 = acc0[oc];
        int32_t s01 = acc0[oc + 1];
        int32_t s10 = acc1[oc];
        int32_t s11 = acc1[oc + 1];
        sums_2x2(c, x, wf, direct, &s00, &s01, &s10, &s11);
        wf += 2 * g;
        if (two) {
            acc1[oc] = s10;
            acc1[oc + 1] = s11;
        }
        acc0[oc] = s00;
        acc0[oc + 1] = s01;
    }
    if (oc < oc_n) {
        int32_t s0 = acc0[oc];
        int32_t s1 = acc1[oc];
        sums_2x1(c, x, wf, direct, &s0, &s1);
        if (two) {
            acc1[oc] = s1;
        }
        acc0[oc] = s0;
    }
}

/* Every output pixel pair: its columns (or its pixels in place) and all its output channels. */
static MCUF_CF_INLINE void conv_pairs(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                                      const int32_t *bias_f, const int32_t *rq, int8_t *out,
                                      int32_t *acc, int32_t *cols, int full, int direct)
{
    const conv_plan c = plan_of(p, in, cols);
    const int32_t npix = p->out_h * p->out_w;
#if MCUF_MVE
    if (!direct) {  /* int8 windows of the two pixels in the scratch, then the direct product */
        int8_t *win0 = (int8_t *)(void *)cols;
        int8_t *win1 = win0 + 4 * c.groups;
        for (int32_t n0 = 0; n0 < npix; n0 += 2) {
            const int32_t n1 = n0 + 1 < npix ? n0 + 1 : n0;
            window_s8(&c, n0, win0);
            window_s8(&c, n1, win1);
            const pair_src x = {cols, win0, win1};
            if (acc != NULL) {
                channels_s32(&c, &x, wf, acc + n0 * p->out_c, acc + n1 * p->out_c, 1);
            } else {
                channels_s8(&c, &x, wf, bias_f, rq, out + n0 * p->out_cs, out + n1 * p->out_cs,
                            full, 1);
            }
        }
        return;
    }
#endif
    for (int32_t n0 = 0; n0 < npix; n0 += 2) {
        const int32_t n1 = n0 + 1 < npix ? n0 + 1 : n0;
        pair_src x = {cols, in + n0 * p->in_cs, in + n1 * p->in_cs};
        if (!direct) {
            im2col(&c, n0, 0);
            im2col(&c, n1, 1);
        }
        if (acc != NULL) {
            channels_s32(&c, &x, wf, acc + n0 * p->out_c, acc + n1 * p->out_c, direct);
        } else {
            channels_s8(&c, &x, wf, bias_f, rq, out + n0 * p->out_cs, out + n1 * p->out_cs, full,
                        direct);
        }
    }
}

static MCUF_CF_NOINLINE void conv_s8_cols_full(const mcuf_conv_params *p, const int8_t *in,
                                               const int32_t *wf, const int32_t *bias_f,
                                               const int32_t *rq, int8_t *out, int32_t *cols)
{
    conv_pairs(p, in, wf, bias_f, rq, out, NULL, cols, 1, 0);
}

static MCUF_CF_NOINLINE void conv_s8_cols_clamp(const mcuf_conv_params *p, const int8_t *in,
                                                const int32_t *wf, const int32_t *bias_f,
                                                const int32_t *rq, int8_t *out, int32_t *cols)
{
    conv_pairs(p, in, wf, bias_f, rq, out, NULL, cols, 0, 0);
}

static MCUF_CF_NOINLINE void conv_s8_direct_full(const mcuf_conv_params *p, const int8_t *in,
                                                 const int32_t *wf, const int32_t *bias_f,
                                                 const int32_t *rq, int8_t *out)
{
    conv_pairs(p, in, wf, bias_f, rq, out, NULL, NULL, 1, 1);
}

static MCUF_CF_NOINLINE void conv_s8_direct_clamp(const mcuf_conv_params *p, const int8_t *in,
                                                  const int32_t *wf, const int32_t *bias_f,
                                                  const int32_t *rq, int8_t *out)
{
    conv_pairs(p, in, wf, bias_f, rq, out, NULL, NULL, 0, 1);
}

/* Output rows y_lo..y_hi tap by tap, with no scratch: bias_f + the sum over every tap of the
 * input (the zero point in the padding) times the filter, requantised exactly. Output channels go
 * in the fast layout's pairs, each input value multiplied into both sums of its pair. */
static void conv_s8_taps(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                         const int32_t *bias_f, const int32_t *rq, int8_t *out, int32_t y_lo,
                         int32_t y_hi, int full)
{
    const int32_t groups = (p->k_h * p->k_w * p->in_c + 3) / 4;
    const int32_t zp = -p->in_offset;
    const uint32_t zpw = (uint32_t)(uint8_t)(int8_t)zp * 0x01010101u;
    const out_stage o = {p->out_offset, p->act_min, p->act_max};
    for (int32_t oy = y_lo; oy < y_hi; oy++) {
        const int32_t y0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t x0 = ox * p->stride_w - p->pad_left;
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_cs;
            for (int32_t oc = 0; oc < p->out_c; oc += 2) {
                /* a pair stores group g of channel oc at 8 g, of oc + 1 at 8 g + 4; a last odd
                 * channel its values plainly */
                const int8_t *wb = (const int8_t *)(const void *)(wf + (oc / 2) * 2 * groups);
                const int pair = oc + 1 < p->out_c;
                uint32_t a0 = (uint32_t)bias_f[oc];
                uint32_t a1 = pair ? (uint32_t)bias_f[oc + 1] : 0u;
                int32_t j = 0;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = y0 + ky * p->dil_h;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = x0 + kx * p->dil_w;
                        const int valid = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                        const int8_t *px = valid ? in + (iy * p->in_w + ix) * p->in_cs : in;
                        if (pair && (p->in_c & 3) == 0) {
                            /* whole groups: four taps of both channels per step, as the
                             * column product multiplies them */
                            int32_t s0 = (int32_t)a0;
                            int32_t s1 = (int32_t)a1;
                            const int8_t *wg = wb + 2 * j;
                            for (int32_t c = 0; c < p->in_c; c += 4, wg += 8) {
                                const int32_t xv = valid ? load_word(px + c) : (int32_t)zpw;
                                const int32_t xe = sx_even(xv);
                                const int32_t xo = sx_odd(xv);
                                const int32_t w0 = load_word(wg);
                                const int32_t w1 = load_word(wg + 4);
                                s0 = dot2(xo, sx_odd(w0), dot2(xe, sx_even(w0), s0));
                                s1 = dot2(xo, sx_odd(w1), dot2(xe, sx_even(w1), s1));
                            }
                            a0 = (uint32_t)s0;
                            a1 = (uint32_t)s1;
                            j += p->in_c;
                            continue;
                        }
                        for (int32_t c = 0; c < p->in_c; c++, j++) {
                            const int32_t v = valid ? px[c] : zp;
                            if (pair) {
                                const int32_t at = (j >> 2) * 8 + (j & 3);
                                a0 += (uint32_t)(v * wb[at]);
                                a1 += (uint32_t)(v * wb[at + 4]);
                            } else {
                                a0 += (uint32_t)(v * wb[j]);
                            }
                        }
                    }
                }
                dst[oc] = clamp_s8(&o, rq_exact((int32_t)a0, rq[2 * oc], rq[2 * oc + 1]), full);
                if (pair) {
                    dst[oc + 1] = clamp_s8(&o, rq_exact((int32_t)a1, rq[2 * oc + 2],
                                                        rq[2 * oc + 3]), full);
                }
            }
        }
    }
}

/* No scratch granted to a conv that gathers its columns: the columns borrow the first output
 * rows, as few as hold them (where the output is dense and at least one row is left:
 * conv_fast.borrowed_rows computes the same count at compile time); the rows after them are
 * computed with them, then the borrowed rows tap by tap over the space they used. Anything else
 * tap by tap. */
static void conv_s8_borrow(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                           const int32_t *bias_f, const int32_t *rq, int8_t *out, int full)
{
    const conv_plan c = plan_of(p, in, NULL);
    const int32_t need = 16 * c.groups + (c.mode == COLS_ROWS ? c.row_n : 4 * c.groups);
    const uintptr_t at = ((uintptr_t)out + 3u) & ~(uintptr_t)3u;
    const int32_t row = p->out_w * p->out_cs;
    const int32_t rows = row > 0 ? ((int32_t)(at - (uintptr_t)out) + need + row - 1) / row : 0;
    if (p->out_cs != p->out_c || rows < 1 || rows >= p->out_h) {
        conv_s8_taps(p, in, wf, bias_f, rq, out, 0, p->out_h, full);
        return;
    }
    mcuf_conv_params q = *p;
    q.out_h = p->out_h - rows;
    q.pad_top = p->pad_top - rows * p->stride_h;  /* output row r of q is row r + rows of p */
    int32_t *cols = (int32_t *)(void *)at;
    if (full) {
        conv_s8_cols_full(&q, in, wf, bias_f, rq, out + rows * row, cols);
    } else {
        conv_s8_cols_clamp(&q, in, wf, bias_f, rq, out + rows * row, cols);
    }
    conv_s8_taps(p, in, wf, bias_f, rq, out, 0, rows, full);
}

/* A conv whose column scratch is small (at most MCUF_CF_STACK_BYTES for two pixels' columns and
 * the largest stage, 16 + 4 bytes per group of four filter values; a 1x1 conv reading its pixels
 * in place needs no stage) puts it on the stack when the plan grants none, rather than summing
 * tap by tap or sign-extending every pixel word again per output channel pair. The planner
 * grants such convs no arena scratch (conv_fast.cols_bytes uses the same rule). */
#define MCUF_CF_STACK_BYTES 256

static int32_t stack_columns(const mcuf_conv_params *p, const int8_t *in)
{
    const conv_plan c = plan_of(p, in, NULL);
    return 16 * c.groups + (c.mode == COLS_DIRECT ? 0 : 4 * c.groups) <= MCUF_CF_STACK_BYTES;
}

void mcuf_conv2d_fast_s8(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                         const int32_t *bias_f, const int32_t *rq, int8_t *out, int32_t *cols)
{
    const int full = p->act_min <= -128 && p->act_max >= 127;
    const int direct = plan_of(p, in, NULL).mode == COLS_DIRECT;
    int32_t local[MCUF_CF_STACK_BYTES / 4];
    if (cols == NULL && stack_columns(p, in) && !(MCUF_MVE && direct)) {
        cols = local;
    }
    if (cols == NULL && !direct) {
        conv_s8_borrow(p, in, wf, bias_f, rq, out, full);
    } else if (cols == NULL || (MCUF_MVE && direct)) {  /* Helium reads int8 pixels in place */
        if (full) {
            conv_s8_direct_full(p, in, wf, bias_f, rq, out);
        } else {
            conv_s8_direct_clamp(p, in, wf, bias_f, rq, out);
        }
    } else if (full) {
        conv_s8_cols_full(p, in, wf, bias_f, rq, out, cols);
    } else {
        conv_s8_cols_clamp(p, in, wf, bias_f, rq, out, cols);
    }
}

static MCUF_CF_NOINLINE void conv_s32_direct(const mcuf_conv_params *p, const int8_t *in,
                                        const int32_t *wf, int32_t *acc)
{
    conv_pairs(p, in, wf, NULL, NULL, NULL, acc, NULL, 0, 1);
}

static MCUF_CF_NOINLINE void conv_s32_cols(const mcuf_conv_params *p, const int8_t *in,
                                           const int32_t *wf, int32_t *acc, int32_t *cols)
{
    conv_pairs(p, in, wf, NULL, NULL, NULL, acc, cols, 0, 0);
}

void mcuf_conv2d_fast_s8_acc(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                             int32_t *acc, int32_t *cols)
{
    int32_t local[MCUF_CF_STACK_BYTES / 4];
    if (cols == NULL && stack_columns(p, in) && !(MCUF_MVE && plan_of(p, in, NULL).mode == COLS_DIRECT)) {
        cols = local;
    }
    if (cols == NULL || (MCUF_MVE && plan_of(p, in, NULL).mode == COLS_DIRECT)) {
        conv_s32_direct(p, in, wf, acc);
    } else {
        conv_s32_cols(p, in, wf, acc, cols);
    }
}
