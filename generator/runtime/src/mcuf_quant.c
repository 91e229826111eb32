/* The float boundary (QUANTIZE float -> int8, DEQUANTIZE int8 -> float) and int8 -> int8 QUANTIZE,
 * with TFLite's reference semantics (reference_ops::AffineQuantize, Dequantize, Requantize).
 * Plain float arithmetic only: no libm, no double. */
#include "mcuf_kernels.h"

/* std::round for a float with |q| <= 2^24: halves away from zero. For such q,
 * q - trunc(q) is exact in float, so the comparison with 0.5 decides exactly as roundf does. */
static int32_t round_half_away(float q)
{
    const int32_t t = (int32_t)q;
    const float frac = q - (float)t;
    if (frac >= 0.5f) {
        return t + 1;
    }
    if (frac <= -0.5f) {
        return t - 1;
    }
    return t;
}

static int8_t quantize_one(float x, float scale, int32_t zp)
{
    const float q = x / scale;
    /* The reference converts round(q) to int32 unchecked and adds zp in int32. For NaN and
     * |q| >= 2^31 that is undefined in C++; on x86, where the interpreter is checked, the conversion
     * yields INT32_MIN and the addition wraps, so the result is 127 when zp < 0 and -128 otherwise,
     * whatever the sign of q. That is reproduced here (an Arm build of the interpreter would
     * saturate instead). */
    if (!(q > -2147483648.0f && q < 2147483648.0f)) {
        return (int8_t)(zp < 0 ? 127 : -128);
    }
    /* Every other |q| > 1024 saturates whatever the zero point. */
    if (q <= -1024.0f) {
        return -128;
    }
    if (q >= 1024.0f) {
        return 127;
    }
    int32_t v = round_half_away(q) + zp;
    v = v < -128 ? -128 : v;
    return (int8_t)(v > 127 ? 127 : v);
}

void mcuf_quantize_f32_s8(int32_t n, const float *in, float scale, int32_t zp, int8_t *out)
{
    for (int32_t i = 0; i < n; i++) {
        out[i] = quantize_one(in[i], scale, zp);
    }
}

void mcuf_dequantize_s8_f32(int32_t n, const int8_t *in, float scale, int32_t zp, float *out)
{
    /* The reference multiplies in double then rounds to float; the exact product of a float and an
     * integer below 2^9 fits a double, so one float multiplication rounds identically. */
    for (int32_t i = 0; i < n; i++) {
        out[i] = scale * (float)((int32_t)in[i] - zp);
    }
}

void mcuf_requantize_s8(int32_t n, const int8_t *in, int32_t in_zp, int32_t mult, int32_t shift,
                        int32_t out_zp, int8_t *out)
{
    for (int32_t i = 0; i < n; i++) {
        int32_t v = mcuf_mul_by_qm((int32_t)in[i] - in_zp, mult, shift) + out_zp;
        v = v < -128 ? -128 : v;
        out[i] = (int8_t)(v > 127 ? 127 : v);
    }
}
