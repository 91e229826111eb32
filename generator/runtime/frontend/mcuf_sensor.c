/* Sensor front-end; see mcuf_sensor.h. */
#include "mcuf_sensor.h"

#include "mcuf_sensor_tables.h"

#if MCUF_SENSOR_TABLES_FINGERPRINT != MCUF_SENSOR_FINGERPRINT
#error "mcuf_sensor_tables.h and mcuf_frontend_config.h come from different configurations: regenerate both"
#endif

#define ONE (INT64_C(1) << MCUF_SENSOR_FRAC_BITS)
/* Past +-200 int8 steps the result saturates anyway; clamping first keeps the shift operand
 * non-negative once 256 steps are added, so the rounding shift is plain unsigned arithmetic. */
#define ACC_LIMIT (200 * ONE)

static int8_t quantise(int16_t x, int k)
{
    int64_t acc = (int64_t)x * mcuf_sensor_mult[k] + mcuf_sensor_bias[k];
    if (acc > ACC_LIMIT)
        acc = ACC_LIMIT;
    else if (acc < -ACC_LIMIT)
        acc = -ACC_LIMIT;
    /* floor(acc / ONE + 1/2), i.e. round half up, computed on a non-negative value. */
    const int32_t q = (int32_t)((acc + 256 * ONE + ONE / 2) >> MCUF_SENSOR_FRAC_BITS) - 256;
    return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
}

void mcuf_sensor_sample(const int16_t *axes, int8_t *out)
{
    for (int k = 0; k < MCUF_SENSOR_N_AXES; ++k)
        out[k] = quantise(axes[k], k);
}

void mcuf_sensor_window(const int16_t *samples, int8_t *out)
{
    for (int32_t i = 0; i < MCUF_SENSOR_N_SAMPLES; ++i)
        mcuf_sensor_sample(samples + i * MCUF_SENSOR_N_AXES, out + i * MCUF_SENSOR_N_AXES);
}
