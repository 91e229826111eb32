/* Fixed-point helpers with TFLite / gemmlowp semantics. */
#include "mcuf_kernels.h"

int32_t mcuf_srdhm(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

int32_t mcuf_rdivpot(int32_t x, int32_t exponent)
{
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t mcuf_mul_by_qm(int32_t x, int32_t multiplier, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    return mcuf_rdivpot(mcuf_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

void mcuf_zero_s32(int32_t n, int32_t *acc)
{
    for (int32_t i = 0; i < n; i++) {
        acc[i] = 0;
    }
}
