/* QUANTIZE between uint8 and int8, as the vendor image models have it after a uint8 input and
 * before a uint8 output, with TFLite's and TFLite Micro's arithmetic (reference_ops::Requantize):
 *   out = clamp(MultiplyByQuantizedMultiplier(in - in_zp, mult, shift) + out_zp)
 * to the output type's range, where mult and shift come from QuantizeMultiplier(in_scale /
 * out_scale) in double. TFLite's shortcut for equal scales and zero points 128 apart (in ^ 0x80)
 * gives the same values, since mult 2^30 with shift 1 is exactly the identity. */
#include "mcuf_kernels.h"

void mcuf_requantize_u8_s8(int32_t n, const uint8_t *in, int32_t in_zp, int32_t mult,
                           int32_t shift, int32_t out_zp, int8_t *out)
{
    for (int32_t i = 0; i < n; i++) {
        int32_t v = mcuf_mul_by_qm((int32_t)in[i] - in_zp, mult, shift) + out_zp;
        v = v < -128 ? -128 : v;
        out[i] = (int8_t)(v > 127 ? 127 : v);
    }
}

void mcuf_requantize_s8_u8(int32_t n, const int8_t *in, int32_t in_zp, int32_t mult,
                           int32_t shift, int32_t out_zp, uint8_t *out)
{
    for (int32_t i = 0; i < n; i++) {
        int32_t v = mcuf_mul_by_qm((int32_t)in[i] - in_zp, mult, shift) + out_zp;
        v = v < 0 ? 0 : v;
        out[i] = (uint8_t)(v > 255 ? 255 : v);
    }
}
