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

/* The inner loops as functions of their own: their registers are then allocated alone, which
 * keeps the four sums and four filter pairs out of the stack at -Os. */
#if defined(__GNUC__)
#define MCUF_CF_NOINLINE __attribute__((noinline))
#define MCUF_CF_INLINE inline __attribute__((always_inline))
#else
#define MCUF_CF_NOINLINE
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

/* ---- im2col: a byte stream per pixel, expanded a group of four at a time --------------------- */

typedef struct {
    int32_t *dst;   /* the next group's two words of this pixel */
    uint32_t part;  /* bytes of an incomplete group, little-endian */
    int32_t fill;   /* how many bytes part holds */
} col_stream;

static MCUF_CF_INLINE void put_word(col_stream *s, int32_t v)
{
    s->dst[0] = sx_even(v);
    s->dst[1] = sx_odd(v);
    s->dst += 4;
}

static MCUF_CF_INLINE void put_byte(col_stream *s, int8_t b)
{
    s->part |= (uint32_t)(uint8_t)b << (8 * s->fill);
    if (++s->fill == 4) {
        put_word(s, (int32_t)s->part);
        s->part = 0;
        s->fill = 0;
    }
}

static void put_bytes(col_stream *s, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    for (; i < n && s->fill != 0; i++) {
        put_byte(s, src[i]);
    }
    for (; i + 4 <= n; i += 4) {
        int32_t v;
        memcpy(&v, src + i, sizeof v);
        put_word(s, v);
    }
    for (; i < n; i++) {
        put_byte(s, src[i]);
    }
}

static void put_fill(col_stream *s, int8_t b, int32_t n)
{
    int32_t i = 0;
    for (; i < n && s->fill != 0; i++) {
        put_byte(s, b);
    }
    const int32_t v = (int32_t)((uint32_t)(uint8_t)b * 0x01010101u);
    for (; i + 4 <= n; i += 4) {
        put_word(s, v);
    }
    for (; i < n; i++) {
        put_byte(s, b);
    }
}

/* The K = k_h * k_w * in_c input values of output pixel (oy, ox), in the filter's order, as
 * pixel s of the column pair; padded taps read the zero point, values K..kp-1 read 0. */
static void im2col(const mcuf_conv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                   int32_t *cols, int32_t s)
{
    col_stream st = {cols + 2 * s, 0u, 0};
    const int8_t zp = (int8_t)(-p->in_offset);
    const int32_t y0 = oy * p->stride_h - p->pad_top;
    const int32_t x0 = ox * p->stride_w - p->pad_left;
    const int32_t row_n = p->k_w * p->in_c;
    int32_t kx_lo;
    int32_t kx_hi;
    mcuf_tap_range(x0, p->dil_w, p->k_w, p->in_w, &kx_lo, &kx_hi);
    const int dense = p->dil_w == 1 && p->in_cs == p->in_c;
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = y0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            put_fill(&st, zp, row_n);
            continue;
        }
        const int8_t *row = in + iy * p->in_w * p->in_cs;
        put_fill(&st, zp, kx_lo * p->in_c);
        if (dense) {
            put_bytes(&st, row + (x0 + kx_lo) * p->in_c, (kx_hi - kx_lo) * p->in_c);
        } else {
            for (int32_t kx = kx_lo; kx < kx_hi; kx++) {
                put_bytes(&st, row + (x0 + kx * p->dil_w) * p->in_cs, p->in_c);
            }
        }
        put_fill(&st, zp, (p->k_w - kx_hi) * p->in_c);
    }
    if (st.fill != 0) {
        put_fill(&st, 0, 4 - st.fill);
    }
}

/* ---- the blocked product ---------------------------------------------------------------------- */

/* Sums of two pixels (columns c) x two output channels (pair words w) over g groups, added to
 * s[pixel * 2 + channel]. Ordered so that 12 registers hold everything the loop needs: the four
 * sums, the four expanded filter pairs, one column word and the pointers. */
static MCUF_CF_NOINLINE void dot_2x2(const int32_t *c, const int32_t *w, int32_t g, int32_t *s)
{
    int32_t s00 = s[0];
    int32_t s01 = s[1];
    int32_t s10 = s[2];
    int32_t s11 = s[3];
    const int32_t *end = w + 2 * g;
#if MCUF_SIMD && defined(__GNUC__)
    /* 17 instructions per 16 multiply-accumulates: three LDRD (filter pair, pixel 0, pixel 1),
     * four SXTB16, eight SMLAD, the loop test. 13 registers. */
    if (g > 0) {
        int32_t w0, w1, e0, e1, x0, x1;
        __asm__ volatile(
            "1:\n\t"
            "ldrd   %[w0], %[w1], [%[w]], #8\n\t"
            "ldrd   %[x0], %[x1], [%[c]], #8\n\t"
            "sxtb16 %[e0], %[w0]\n\t"
            "sxtb16 %[w0], %[w0], ror #8\n\t"
            "sxtb16 %[e1], %[w1]\n\t"
            "sxtb16 %[w1], %[w1], ror #8\n\t"
            "smlad  %[s00], %[x0], %[e0], %[s00]\n\t"
            "smlad  %[s01], %[x0], %[e1], %[s01]\n\t"
            "smlad  %[s00], %[x1], %[w0], %[s00]\n\t"
            "smlad  %[s01], %[x1], %[w1], %[s01]\n\t"
            "ldrd   %[x0], %[x1], [%[c]], #8\n\t"
            "smlad  %[s10], %[x0], %[e0], %[s10]\n\t"
            "smlad  %[s11], %[x0], %[e1], %[s11]\n\t"
            "smlad  %[s10], %[x1], %[w0], %[s10]\n\t"
            "smlad  %[s11], %[x1], %[w1], %[s11]\n\t"
            "cmp    %[w], %[end]\n\t"
            "bne    1b\n\t"
            : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11),
              [c] "+r"(c), [w] "+r"(w), [w0] "=&r"(w0), [w1] "=&r"(w1), [e0] "=&r"(e0),
              [e1] "=&r"(e1), [x0] "=&r"(x0), [x1] "=&r"(x1)
            : [end] "r"(end)
            : "cc", "memory");
    }
#else
    while (w != end) {
        const int32_t e0 = sx_even(w[0]);
        const int32_t o0 = sx_odd(w[0]);
        const int32_t e1 = sx_even(w[1]);
        const int32_t o1 = sx_odd(w[1]);
        int32_t x = c[0];
        s00 = dot2(x, e0, s00);
        s01 = dot2(x, e1, s01);
        x = c[1];
        s00 = dot2(x, o0, s00);
        s01 = dot2(x, o1, s01);
        x = c[2];
        s10 = dot2(x, e0, s10);
        s11 = dot2(x, e1, s11);
        x = c[3];
        s10 = dot2(x, o0, s10);
        s11 = dot2(x, o1, s11);
        c += 4;
        w += 2;
    }
#endif
    s[0] = s00;
    s[1] = s01;
    s[2] = s10;
    s[3] = s11;
}

/* Two pixels x one output channel (plain row words w). */
static MCUF_CF_NOINLINE void dot_2x1(const int32_t *c, const int32_t *w, int32_t g, int32_t *s)
{
    int32_t s0 = s[0];
    int32_t s1 = s[2];
    for (int32_t i = 0; i < g; i++) {
        const int32_t e = sx_even(w[i]);
        const int32_t o = sx_odd(w[i]);
        s0 = dot2(c[0], e, s0);
        s1 = dot2(c[2], e, s1);
        s0 = dot2(c[1], o, s0);
        s1 = dot2(c[3], o, s1);
        c += 4;
    }
    s[0] = s0;
    s[2] = s1;
}

/* MultiplyByQuantizedMultiplier (mcuf_mul_by_qm), inlined. The multiplier is positive, so the
 * doubling high multiply never saturates and its round-half-away-from-zero division by 2^31 is
 * (ab + 2^30) >> 31 with an arithmetic shift. */
static inline int32_t mul_qm(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t ab = (int64_t)(int32_t)((uint32_t)x << left) * mult;
    const int32_t hi = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    const int32_t threshold = (mask >> 1) + (hi < 0 ? 1 : 0);
    return (hi >> right) + ((hi & mask) > threshold ? 1 : 0);
}

static inline int8_t requant(int32_t acc, int32_t mult, int32_t shift, const mcuf_conv_params *p)
{
    int32_t v = mul_qm(acc, mult, shift) + p->out_offset;
    v = v < p->act_min ? p->act_min : v;
    v = v > p->act_max ? p->act_max : v;
    return (int8_t)v;
}

/* Where the results of one column pair go: requantised int8 (acc == NULL) or added into acc. */
typedef struct {
    const int32_t *bias_f, *mult, *shift;
    int8_t *out;
    int32_t *acc;
} conv_sink;

/* Output channels oc, oc + 1 (pair) or oc alone of pixels n0 and n1 (n1 == n0: one pixel). */
static void finish(const mcuf_conv_params *p, const conv_sink *k, const int32_t *s, int32_t oc,
                   int32_t m, int32_t n0, int32_t n1)
{
    for (int32_t j = 0; j < m; j++) {
        if (k->acc != NULL) {
            k->acc[n0 * p->out_c + oc + j] = s[j];
            k->acc[n1 * p->out_c + oc + j] = n1 != n0 ? s[2 + j] : s[j];
        } else {
            const int32_t mu = k->mult[oc + j];
            const int32_t sh = k->shift[oc + j];
            k->out[n0 * p->out_cs + oc + j] = requant(s[j], mu, sh, p);
            if (n1 != n0) {
                k->out[n1 * p->out_cs + oc + j] = requant(s[2 + j], mu, sh, p);
            }
        }
    }
}

/* All output channels of pixels n0 and n1 from the columns. */
static void channels(const mcuf_conv_params *p, const int32_t *cols, const int32_t *wf,
                     const conv_sink *k, int32_t n0, int32_t n1)
{
    const int32_t g = (p->k_h * p->k_w * p->in_c + 3) / 4;
    const int32_t oc_n = p->out_c;
    for (int32_t oc = 0; oc < oc_n; oc += 2) {
        const int32_t m = oc + 1 < oc_n ? 2 : 1;
        int32_t s[4];
        if (k->acc != NULL) {
            s[0] = k->acc[n0 * oc_n + oc];
            s[2] = k->acc[n1 * oc_n + oc];
            s[1] = m == 2 ? k->acc[n0 * oc_n + oc + 1] : 0;
            s[3] = m == 2 ? k->acc[n1 * oc_n + oc + 1] : 0;
        } else {
            s[0] = s[2] = k->bias_f[oc];
            s[1] = s[3] = m == 2 ? k->bias_f[oc + 1] : 0;
        }
        if (m == 2) {
            dot_2x2(cols, wf + oc * g, g, s);
        } else {
            dot_2x1(cols, wf + oc * g, g, s);
        }
        finish(p, k, s, oc, m, n0, n1);
    }
}

static void conv_fast(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                      const conv_sink *k, int32_t *cols)
{
    const int32_t npix = p->out_h * p->out_w;
    for (int32_t n0 = 0; n0 < npix; n0 += 2) {
        const int32_t n1 = n0 + 1 < npix ? n0 + 1 : n0;
        im2col(p, in, n0 / p->out_w, n0 % p->out_w, cols, 0);
        im2col(p, in, n1 / p->out_w, n1 % p->out_w, cols, 1);
        channels(p, cols, wf, k, n0, n1);
    }
}

void mcuf_conv2d_fast_s8(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                         const int32_t *bias_f, const int32_t *mult, const int32_t *shift,
                         int8_t *out, int32_t *cols)
{
    const conv_sink k = {bias_f, mult, shift, out, NULL};
    conv_fast(p, in, wf, &k, cols);
}

void mcuf_conv2d_fast_s8_acc(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                             int32_t *acc, int32_t *cols)
{
    const conv_sink k = {NULL, NULL, NULL, NULL, acc};
    conv_fast(p, in, wf, &k, cols);
}
