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
 */
#include <string.h>

#include "mcuf_internal.h"
#include "mcuf_kernels.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mcuf_conv_fast.c: the fast filter layout assumes a little-endian target"
#endif

/* Attributes that keep -Os from out-of-lining the short helpers of the hot loops. */
#if defined(__GNUC__)
#define MCUF_CF_INLINE inline __attribute__((always_inline))
#else
#define MCUF_CF_INLINE inline
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

/* The window at input (y0, x0) with padding: K bytes into the stage, padded taps reading the
 * zero point. */
static void gather(const conv_plan *c, int32_t y0, int32_t x0)
{
    const mcuf_conv_params *p = c->p;
    const int32_t ch = p->in_c;
    int32_t kx_lo;
    int32_t kx_hi;
    mcuf_tap_range(x0, p->dil_w, p->k_w, p->in_w, &kx_lo, &kx_hi);
    const int dense = p->dil_w == 1 && p->in_cs == ch;
    int8_t *d = c->stage;
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
    if (inside && c->mode == COLS_ROWS) {
        const int8_t *row = c->in + (y0 * p->in_w + x0) * p->in_cs;
        const int32_t g = c->row_n / 4;
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            dst = expand_groups(row, g, dst);
            row += c->pitch;
        }
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
        gather(c, y0, x0);
    }
    expand(c->stage, c->k, dst);
}

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

/* ---- requantisation --------------------------------------------------------------------------- */

/* MultiplyByQuantizedMultiplier (mcuf_mul_by_qm) then the output offset and clamp. The multiplier
 * is positive, so the doubling high multiply never saturates and its round-half-away-from-zero
 * division by 2^31 is (ab + 2^30) >> 31 with an arithmetic shift. */
typedef struct {
    int32_t out_offset, act_min, act_max;
} out_stage;

static MCUF_CF_INLINE int8_t to_s8(const out_stage *o, int32_t x, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t ab = (int64_t)(int32_t)((uint32_t)x << left) * mult;
    const int32_t hi = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    const int32_t threshold = (mask >> 1) + (int32_t)((uint32_t)hi >> 31);
    int32_t v = (hi >> right) + ((hi & mask) > threshold ? 1 : 0) + o->out_offset;
    v = v < o->act_min ? o->act_min : v;
    v = v > o->act_max ? o->act_max : v;
    return (int8_t)v;
}

/* ---- the two output forms ---------------------------------------------------------------------- */

/* All output channels of the column pair, requantised into out0 and out1 (equal: one pixel). */
static void channels_s8(const conv_plan *c, const int32_t *wf, const int32_t *bias_f,
                        const int32_t *mult, const int32_t *shift, int8_t *out0, int8_t *out1)
{
    const mcuf_conv_params *p = c->p;
    const int32_t g = c->groups;
    const int32_t oc_n = p->out_c;
    const int32_t *cols = c->cols;
    const out_stage o = {p->out_offset, p->act_min, p->act_max};
    int32_t oc = 0;
    for (; oc + 1 < oc_n; oc += 2) {
        int32_t s00 = bias_f[oc];
        int32_t s01 = bias_f[oc + 1];
        int32_t s10 = s00;
        int32_t s11 = s01;
        DOT_2X2(cols, wf, g, s00, s01, s10, s11);
        wf += 2 * g;
        const int32_t m0 = mult[oc], m1 = mult[oc + 1];
        const int32_t h0 = shift[oc], h1 = shift[oc + 1];
        out1[oc] = to_s8(&o, s10, m0, h0);
        out1[oc + 1] = to_s8(&o, s11, m1, h1);
        out0[oc] = to_s8(&o, s00, m0, h0);  /* after out1: the same pixel when out1 == out0 */
        out0[oc + 1] = to_s8(&o, s01, m1, h1);
    }
    if (oc < oc_n) {
        int32_t s0 = bias_f[oc];
        int32_t s1 = s0;
        dot_2x1(cols, wf, g, &s0, &s1);
        out1[oc] = to_s8(&o, s1, mult[oc], shift[oc]);
        out0[oc] = to_s8(&o, s0, mult[oc], shift[oc]);
    }
}

/* All output channels of the column pair added into the int32 sums acc0 and acc1 (equal: one
 * pixel, added once). */
static void channels_s32(const conv_plan *c, const int32_t *wf, int32_t *acc0, int32_t *acc1)
{
    const int32_t g = c->groups;
    const int32_t oc_n = c->p->out_c;
    const int32_t *cols = c->cols;
    const int two = acc1 != acc0;
    int32_t oc = 0;
    for (; oc + 1 < oc_n; oc += 2) {
        int32_t s00 = acc0[oc];
        int32_t s01 = acc0[oc + 1];
        int32_t s10 = acc1[oc];
        int32_t s11 = acc1[oc + 1];
        DOT_2X2(cols, wf, g, s00, s01, s10, s11);
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
        dot_2x1(cols, wf, g, &s0, &s1);
        if (two) {
            acc1[oc] = s1;
        }
        acc0[oc] = s0;
    }
}

void mcuf_conv2d_fast_s8(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                         const int32_t *bias_f, const int32_t *mult, const int32_t *shift,
                         int8_t *out, int32_t *cols)
{
    const conv_plan c = plan_of(p, in, cols);
    const int32_t npix = p->out_h * p->out_w;
    for (int32_t n0 = 0; n0 < npix; n0 += 2) {
        const int32_t n1 = n0 + 1 < npix ? n0 + 1 : n0;
        im2col(&c, n0, 0);
        im2col(&c, n1, 1);
        channels_s8(&c, wf, bias_f, mult, shift, out + n0 * p->out_cs, out + n1 * p->out_cs);
    }
}

void mcuf_conv2d_fast_s8_acc(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                             int32_t *acc, int32_t *cols)
{
    const conv_plan c = plan_of(p, in, cols);
    const int32_t npix = p->out_h * p->out_w;
    for (int32_t n0 = 0; n0 < npix; n0 += 2) {
        const int32_t n1 = n0 + 1 < npix ? n0 + 1 : n0;
        im2col(&c, n0, 0);
        im2col(&c, n1, 1);
        channels_s32(&c, wf, acc + n0 * p->out_c, acc + n1 * p->out_c);
    }
}
