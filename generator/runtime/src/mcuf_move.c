/*
 * Data movement: PAD (TFLite reference Pad with a constant value), row copies for RESHAPE and
 * CONCATENATION, and the requantising row copy of CONCATENATION with differing scales.
 */
#include <stdint.h>
#include <string.h>

#include "mcuf_kernels.h"

void mcuf_pad_s8(const mcuf_pad_params *p, const int8_t *in, int8_t *out)
{
    const int32_t out_h = p->pad_top + p->in_h + p->pad_bottom;
    const int32_t out_w = p->pad_left + p->in_w + p->pad_right;
    const int32_t out_c = p->pad_c_before + p->in_c + p->pad_c_after;
    for (int32_t y = 0; y < out_h; y++) {
        int32_t iy = y - p->pad_top;
        for (int32_t x = 0; x < out_w; x++) {
            int32_t ix = x - p->pad_left;
            int8_t *dst = out + (y * out_w + x) * p->out_cs;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                memset(dst, p->pad_value, (size_t)out_c);
                continue;
            }
            memset(dst, p->pad_value, (size_t)p->pad_c_before);
            memcpy(dst + p->pad_c_before, in + (iy * p->in_w + ix) * p->in_cs, (size_t)p->in_c);
            memset(dst + p->pad_c_before + p->in_c, p->pad_value, (size_t)p->pad_c_after);
        }
    }
}

/* Row order for copies within one buffer. Rows are visited last-to-first when the destination
 * starts above the source, or at the source with a wider pitch; otherwise first-to-last. This never
 * overwrites a row before reading it when the rows move apart (dst >= src, dst_pitch >= src_pitch,
 * as when a concatenation widens its first input in place) or together (dst <= src,
 * dst_pitch <= src_pitch), given src_pitch >= len. Each row itself is moved with memmove. */
static int copy_backwards(const int8_t *src, int32_t src_pitch, const int8_t *dst,
                          int32_t dst_pitch)
{
    uintptr_t s = (uintptr_t)src;
    uintptr_t d = (uintptr_t)dst;
    return d > s || (d == s && dst_pitch > src_pitch);
}

void mcuf_copy_rows_s8(int32_t rows, int32_t len, const int8_t *src, int32_t src_pitch,
                       int8_t *dst, int32_t dst_pitch)
{
    if (copy_backwards(src, src_pitch, dst, dst_pitch)) {
        for (int32_t r = rows - 1; r >= 0; r--) {
            memmove(dst + r * dst_pitch, src + r * src_pitch, (size_t)len);
        }
    } else {
        for (int32_t r = 0; r < rows; r++) {
            memmove(dst + r * dst_pitch, src + r * src_pitch, (size_t)len);
        }
    }
}

/* One value of TFLite's ConcatenationWithScaling, in float as the reference:
 * round(in * scale + bias) + out_zp, clamped, rounding halves away from zero (std::round). The
 * product must be rounded to float before the addition: the volatile keeps a compiler with
 * -ffp-contract=fast (GCC's default outside strict ISO modes) from fusing the two into a
 * multiply-add. v - trunc(v) is exact in float, so no libm round is needed. */
static int8_t requant_value(int8_t in, float scale, float bias, int32_t out_zp)
{
    volatile float scaled = (float)in * scale;
    float v = scaled + bias;
    v = v > 1.0e6f ? 1.0e6f : (v < -1.0e6f ? -1.0e6f : v); /* far outside int8, exact in float */
    int32_t whole = (int32_t)v;
    float frac = v - (float)whole;
    whole += frac >= 0.5f ? 1 : (frac <= -0.5f ? -1 : 0);
    whole += out_zp;
    whole = whole < INT8_MIN ? INT8_MIN : whole;
    whole = whole > INT8_MAX ? INT8_MAX : whole;
    return (int8_t)whole;
}

void mcuf_requant_rows_s8(int32_t rows, int32_t len, const int8_t *src, int32_t src_pitch,
                          int8_t *dst, int32_t dst_pitch, float scale, float bias, int32_t out_zp)
{
    if (copy_backwards(src, src_pitch, dst, dst_pitch)) {
        for (int32_t r = rows - 1; r >= 0; r--) {
            for (int32_t i = len - 1; i >= 0; i--) {
                dst[r * dst_pitch + i] = requant_value(src[r * src_pitch + i], scale, bias, out_zp);
            }
        }
    } else {
        for (int32_t r = 0; r < rows; r++) {
            for (int32_t i = 0; i < len; i++) {
                dst[r * dst_pitch + i] = requant_value(src[r * src_pitch + i], scale, bias, out_zp);
            }
        }
    }
}
